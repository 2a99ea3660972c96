using FastEpp.Endpoints;
using FastEpp.Admission.Detectors;
using Microsoft.Extensions.Time.Testing;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Admission.Detectors;

public sealed class UtilizationDetectorTests
{
    [Fact]
    public void UtilizationDetector_FilterAndSaturation()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        DateTimeOffset now = time.GetUtcNow();
        var s = Snapshot(
            new EndpointMetrics { WaitingQueueSize = 1, KvCacheUsagePercent = 0.4, UpdatedAt = now },
            new EndpointMetrics { WaitingQueueSize = 5, KvCacheUsagePercent = 0.1, UpdatedAt = now },          // queue at limit
            new EndpointMetrics { WaitingQueueSize = 0, KvCacheUsagePercent = 0.1, UpdatedAt = now.AddSeconds(-1) }); // stale
        var d = new UtilizationDetector("u", time: time);
        Assert.Equal([0], Filter(d, Context(s)));
        // (max(0.2, 0.5) + max(1, 0.125) + 1) / 3
        Assert.Equal((0.5 + 1 + 1) / 3, d.Saturation(s, All(s)), 9);
        Assert.Equal(1.0, d.Saturation(s, []));
        Assert.Equal([1, 2], Filter(d, Context(s), [1, 2])); // none qualifies → input unchanged
    }
}
