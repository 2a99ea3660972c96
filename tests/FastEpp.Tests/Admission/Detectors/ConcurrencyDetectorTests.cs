using FastEpp.Admission.Detectors;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Admission.Detectors;

public sealed class ConcurrencyDetectorTests
{
    [Fact]
    public void ConcurrencyDetector_FilterByInFlight()
    {
        var s = Uniform(2);
        var ctx = Context(s);
        ctx.Scratch.HasInFlightData = true;
        ctx.Scratch.InFlightRequests(0) = 2;
        ctx.Scratch.InFlightRequests(1) = 3;
        Assert.Equal([0], Filter(new ConcurrencyDetector("c", maxConcurrency: 3), ctx));
        Assert.Empty(Filter(new ConcurrencyDetector("c", maxConcurrency: 2), ctx));
    }
}
