using FastEpp.Scheduling.Filters;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling.Filters;

public sealed class PrefixCacheAffinityFilterTests
{
    [Fact]
    public void PrefixCacheAffinityFilter_KeepsSticky_OrAllWhenNone()
    {
        var s = Uniform(3);
        var ctx = Context(s);
        var filter = new PrefixCacheAffinityFilter("a", 0.8, 0);
        Assert.Equal([0, 1, 2], Filter(filter, ctx)); // no prefix data → no sticky → all
        ctx.Scratch.HasPrefixData = true;
        ctx.Scratch.PrefixTotalBlocks = 10;
        ctx.Scratch.PrefixMatch(0) = 8;
        ctx.Scratch.PrefixMatch(1) = 7;
        ctx.Scratch.PrefixMatch(2) = 10;
        Assert.Equal([0, 2], Filter(filter, ctx));
        Assert.Equal([0, 1, 2], Filter(new PrefixCacheAffinityFilter("a", 0.8, 1.0), ctx)); // always explore
        Assert.Equal([0, 1, 2], Filter(new PrefixCacheAffinityFilter("a", 0, 0), ctx));     // threshold ≤ 0
        Assert.Equal([1], Filter(filter, ctx, [1]));                                          // single candidate
    }
}
