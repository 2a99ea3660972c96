using FastEpp.Admission.Detectors;
using FastEpp.Endpoints;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Filters;
using FastEpp.Scheduling.Pickers;
using Microsoft.Extensions.Time.Testing;
using static FastEpp.Tests.Scheduling.SchedulingTestData;

namespace FastEpp.Tests.Scheduling;

public class PickerFilterTests
{
    private static int[] Pick(IPicker picker, double[] totals, int resultLength = 8)
    {
        var s = Uniform(totals.Length);
        var ctx = Context(s);
        var cands = All(s);
        var t = (double[])totals.Clone();
        var result = new int[resultLength];
        int n = picker.Pick(ctx, cands, t, result);
        return result[..n];
    }

    [Fact]
    public void MaxScorePicker_PicksHighest()
    {
        Assert.Equal([2], Pick(new MaxScorePicker("p"), [0.1, 0.5, 0.9, 0.3]));
    }

    [Fact]
    public void MaxScorePicker_Fallbacks_BestFirst()
    {
        Assert.Equal([2, 1, 3], Pick(new MaxScorePicker("p", 3), [0.1, 0.5, 0.9, 0.3]));
        Assert.Equal([1, 0], Pick(new MaxScorePicker("p", 5), [0.1, 0.5]));
        Assert.Equal(1, new MaxScorePicker("p", 0).MaxEndpoints);
    }

    [Fact]
    public void MaxScorePicker_Ties_BrokenUniformly()
    {
        var picker = new MaxScorePicker("p", 1, new Random(42));
        var counts = new int[4];
        for (int i = 0; i < 4000; i++)
            counts[Pick(picker, [1, 1, 0.5, 1])[0]]++;
        Assert.Equal(0, counts[2]);
        foreach (int k in (int[])[0, 1, 3])
            Assert.InRange(counts[k], 1000, 1700);
    }

    [Fact]
    public void MaxScorePicker_TopK_TiesRandomButScoreOrdered()
    {
        var picker = new MaxScorePicker("p", 2, new Random(7));
        var seenFirst = new HashSet<int>();
        for (int i = 0; i < 200; i++)
        {
            int[] r = Pick(picker, [0.9, 0.9, 0.1]);
            Assert.Equal(2, r.Length);
            Assert.DoesNotContain(2, r);
            seenFirst.Add(r[0]);
        }
        Assert.Equal(2, seenFirst.Count);
    }

    [Fact]
    public void RandomPicker_DistinctSubset()
    {
        int[] r = Pick(new RandomPicker("r", 3, new Random(1)), [0, 0, 0, 0, 0]);
        Assert.Equal(3, r.Distinct().Count());
    }

    [Fact]
    public void WeightedRandomPicker_ProportionalToScore()
    {
        var picker = new WeightedRandomPicker("w", 1, new Random(3));
        var counts = new int[3];
        for (int i = 0; i < 6000; i++)
            counts[Pick(picker, [1, 2, 0])[0]]++;
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[1] / (double)counts[0], 1.6, 2.5);
    }

    [Fact]
    public void WeightedRandomPicker_AllZero_BehavesAsRandom()
    {
        var picker = new WeightedRandomPicker("w", 2, new Random(5));
        var seen = new HashSet<int>();
        for (int i = 0; i < 100; i++)
            foreach (int c in Pick(picker, [0, 0, 0]))
                seen.Add(c);
        Assert.Equal(3, seen.Count);
    }

    [Fact]
    public void WeightedRandomPicker_ZeroKeysFillRemainingSlots()
    {
        int[] r = Pick(new WeightedRandomPicker("w", 3, new Random(9)), [0.5, 0, 0]);
        Assert.Equal(0, r[0]);
        Assert.Equal(3, r.Length);
    }

    private static int[] Filter(IFilter filter, SchedulingContext ctx, int[]? candidates = null)
    {
        var c = (int[])(candidates ?? All(ctx.Snapshot)).Clone();
        int n = filter.Filter(ctx, c);
        return c[..n];
    }

    [Fact]
    public void HeaderBasedTestingFilter_HeaderOrder_DedupByIp_Ports()
    {
        var s = Uniform(3); // 10.0.0.1, 10.0.0.2, 10.0.0.3 on port 8000
        var headers = new Dictionary<string, string> { ["test-epp-endpoint-selection"] = "10.0.0.3, 10.0.0.1:8000,10.0.0.3:8000, 10.0.0.2:9999" };
        Assert.Equal([2, 0], Filter(new HeaderBasedTestingFilter("h"), Context(s, EmptyRequest(headers))));
        Assert.Empty(Filter(new HeaderBasedTestingFilter("h"), Context(s)));
        var blank = new Dictionary<string, string> { ["test-epp-endpoint-selection"] = "  " };
        Assert.Empty(Filter(new HeaderBasedTestingFilter("h"), Context(s, EmptyRequest(blank))));
    }

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
