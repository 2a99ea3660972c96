using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class KvCacheUtilizationScorerTests
{
    [Fact]
    public void KvCacheUtilizationScorer_OneMinusUsage()
    {
        var s = Snapshot(new EndpointMetrics { KvCacheUsagePercent = 0.25 }, new EndpointMetrics { KvCacheUsagePercent = 1 }, new EndpointMetrics());
        Assert.Equal([0.75, 0.0, 1.0], Score(new KvCacheUtilizationScorer("kv"), Context(s)));
    }
}
