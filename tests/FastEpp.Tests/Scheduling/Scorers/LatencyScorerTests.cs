using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class LatencyScorerTests
{
    [Fact]
    public void LatencyScorer_CompositeFallback()
    {
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 0, KvCacheUsagePercent = 0.5 }, new EndpointMetrics { WaitingQueueSize = 4, KvCacheUsagePercent = 0.1 });
        var ctx = Context(s);
        ctx.Scratch.HasPrefixData = true;
        ctx.Scratch.PrefixTotalBlocks = 2;
        ctx.Scratch.PrefixMatch(0) = 1;
        ctx.Scratch.PrefixMatch(1) = 0;
        // (0.5 + 1 + 0.5)/3 = 0.6667 → 0.67 ; (0.9 + 0 + 0)/3 = 0.3
        Assert.Equal([0.67, 0.3], Score(new LatencyScorer("l"), ctx));
        // sum of weights ≤ 0 → kv only
        Assert.Equal([0.5, 0.9], Score(new LatencyScorer("l", 0, 0, 0), ctx));
    }
}
