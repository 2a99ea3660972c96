using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class RunningRequestsSizeScorerTests
{
    [Fact]
    public void RunningRequestsSizeScorer_MinMax()
    {
        var s = Snapshot(new EndpointMetrics { RunningRequestsSize = 2 }, new EndpointMetrics { RunningRequestsSize = 6 }, new EndpointMetrics { RunningRequestsSize = 3 });
        Assert.Equal([1.0, 0.0, 0.75], Score(new RunningRequestsSizeScorer("r"), Context(s)));
    }
}
