using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling;

public class ScorerTests
{
    [Fact]
    public void QueueScorer_MinMax_HandComputed()
    {
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 0 }, new EndpointMetrics { WaitingQueueSize = 5 }, new EndpointMetrics { WaitingQueueSize = 10 });
        Assert.Equal([1.0, 0.5, 0.0], Score(new QueueScorer("q"), Context(s)));
    }

    [Fact]
    public void QueueScorer_AllEqual_AllOne()
    {
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 3 }, new EndpointMetrics { WaitingQueueSize = 3 });
        Assert.Equal([1.0, 1.0], Score(new QueueScorer("q"), Context(s)));
    }

    [Fact]
    public void QueueScorer_UsesCurrentCandidateSetOnly()
    {
        var s = Snapshot(new EndpointMetrics { WaitingQueueSize = 0 }, new EndpointMetrics { WaitingQueueSize = 4 }, new EndpointMetrics { WaitingQueueSize = 8 });
        Assert.Equal([1.0, 0.0], Score(new QueueScorer("q"), Context(s), [1, 2]));
    }

    [Fact]
    public void RunningRequestsSizeScorer_MinMax()
    {
        var s = Snapshot(new EndpointMetrics { RunningRequestsSize = 2 }, new EndpointMetrics { RunningRequestsSize = 6 }, new EndpointMetrics { RunningRequestsSize = 3 });
        Assert.Equal([1.0, 0.0, 0.75], Score(new RunningRequestsSizeScorer("r"), Context(s)));
    }

    [Fact]
    public void KvCacheUtilizationScorer_OneMinusUsage()
    {
        var s = Snapshot(new EndpointMetrics { KvCacheUsagePercent = 0.25 }, new EndpointMetrics { KvCacheUsagePercent = 1 }, new EndpointMetrics());
        Assert.Equal([0.75, 0.0, 1.0], Score(new KvCacheUtilizationScorer("kv"), Context(s)));
    }

    [Fact]
    public void TokenLoadScorer_Threshold()
    {
        var s = Snapshot(new EndpointMetrics(), new EndpointMetrics(), new EndpointMetrics(), new EndpointMetrics());
        var ctx = Context(s);
        ctx.Scratch.HasInFlightData = true;
        ctx.Scratch.InFlightTokens(0) = 0;
        ctx.Scratch.InFlightTokens(1) = 250;
        ctx.Scratch.InFlightTokens(2) = 1000;
        ctx.Scratch.InFlightTokens(3) = 5000;
        Assert.Equal([1.0, 0.75, 0.0, 0.0], Score(new TokenLoadScorer("t", 1000), ctx));
        Assert.Equal(TokenLoadScorer.DefaultQueueThresholdTokens, new TokenLoadScorer("t", 0).QueueThresholdTokens);
    }

    [Fact]
    public void TokenLoadScorer_NoProducerData_AllOne()
    {
        var s = Snapshot(new EndpointMetrics(), new EndpointMetrics());
        Assert.Equal([1.0, 1.0], Score(new TokenLoadScorer("t"), Context(s)));
    }

    [Fact]
    public void LoraAffinityScorer_Rules()
    {
        var s = Snapshot(
            new EndpointMetrics { ActiveModels = ["a1"], MaxActiveModels = 1 },           // active → 1
            new EndpointMetrics { ActiveModels = ["x"], WaitingModels = [], MaxActiveModels = 4 }, // room → 0.8
            new EndpointMetrics { ActiveModels = ["x"], WaitingModels = ["a1"], MaxActiveModels = 2 }, // waiting → 0.6
            new EndpointMetrics { ActiveModels = ["x", "y"], MaxActiveModels = 2 },     // nothing → 0
            new EndpointMetrics());                                                      // non-LoRA → 0
        var ctx = Context(s, EmptyRequest());
        ctx.Request.TargetModel = "a1";
        Assert.Equal([1.0, 0.8, 0.6, 0.0, 0.0], Score(new LoraAffinityScorer("l"), ctx));
    }

    [Fact]
    public void PrefixCacheScorer_MatchOverTotal()
    {
        var s = Snapshot(new EndpointMetrics(), new EndpointMetrics(), new EndpointMetrics());
        var ctx = Context(s);
        Assert.Equal([0.0, 0.0, 0.0], Score(new PrefixCacheScorer("p"), ctx)); // no producer data
        ctx.Scratch.HasPrefixData = true;
        ctx.Scratch.PrefixTotalBlocks = 4;
        ctx.Scratch.PrefixMatch(0) = 4;
        ctx.Scratch.PrefixMatch(1) = 1;
        ctx.Scratch.PrefixMatch(2) = 0;
        Assert.Equal([1.0, 0.25, 0.0], Score(new PrefixCacheScorer("p"), ctx));
        ctx.Scratch.PrefixTotalBlocks = 0;
        Assert.Equal([0.0, 0.0, 0.0], Score(new PrefixCacheScorer("p"), ctx));
    }

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
