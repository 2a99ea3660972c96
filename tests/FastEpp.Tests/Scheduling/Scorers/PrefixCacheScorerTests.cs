using FastEpp.Endpoints;
using FastEpp.Scheduling.Scorers;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Scorers;

public sealed class PrefixCacheScorerTests
{
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
}
