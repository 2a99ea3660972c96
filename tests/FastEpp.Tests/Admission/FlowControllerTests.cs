using FastEpp.Admission;
using FastEpp.Admission.Policies;
using FastEpp.Configuration;
using FastEpp.Scheduling;
using FastEpp.Tests.ExtProc;
using Microsoft.Extensions.Time.Testing;

namespace FastEpp.Tests.Admission;

/// <summary>The flow-control data plane with the dispatcher driven by hand (one RunCycle = one reference cycle).</summary>
public sealed class FlowControllerTests
{
    private double _saturation;
    private readonly FakeTimeProvider _time = new();

    private FlowController Create(FlowControlSpec? spec = null, Dictionary<string, IPlugin>? policies = null) =>
        new(spec ?? new FlowControlSpec(), () => _saturation, StaticUsageLimitPolicy.Default,
            name => policies is not null && policies.TryGetValue(name, out var p) ? p : null, _time, runDispatcher: false);

    private static void AssertOutcome(FlowTicket t, AdmissionOutcome expected)
    {
        Assert.True(t.Outcome.IsCompleted, "ticket still queued");
        Assert.Equal(expected, t.Outcome.Result);
    }

    [Fact]
    public async Task NotSaturated_DispatchesOnePerCycle()
    {
        await using var fc = Create();
        var a = fc.Enqueue("f", 0, 100, "m", "m");
        var b = fc.Enqueue("f", 0, 100, "m", "m");
        Assert.Equal(2, fc.QueuedRequests);
        Assert.True(fc.RunCycle());
        AssertOutcome(a, AdmissionOutcome.Dispatched);
        Assert.False(b.Outcome.IsCompleted);
        Assert.True(fc.RunCycle());
        AssertOutcome(b, AdmissionOutcome.Dispatched);
        Assert.Equal((0, 0), (fc.QueuedRequests, fc.QueuedBytes));
        Assert.False(fc.RunCycle());
    }

    [Fact]
    public async Task Saturated_HoldsEveryBand_ThenHighestPriorityFirst()
    {
        await using var fc = Create();
        _saturation = 1.0;
        var low = fc.Enqueue("f", -1, 10, "m", "m");
        var normal = fc.Enqueue("f", 0, 10, "m", "m");
        var high = fc.Enqueue("f", 5, 10, "m", "m");
        for (int i = 0; i < 5; i++)
            Assert.False(fc.RunCycle()); // head-of-line: nothing passes a saturated pool, whatever its priority
        _saturation = 0.5;
        fc.RunCycle();
        AssertOutcome(high, AdmissionOutcome.Dispatched);
        Assert.False(normal.Outcome.IsCompleted);
        fc.RunCycle();
        AssertOutcome(normal, AdmissionOutcome.Dispatched);
        fc.RunCycle();
        AssertOutcome(low, AdmissionOutcome.Dispatched);
    }

    [Fact]
    public async Task GlobalStrictFairness_IsFcfsAcrossFlows()
    {
        await using var fc = Create();
        _saturation = 1;
        var a1 = fc.Enqueue("a", 0, 1, "m", "m");
        var b1 = fc.Enqueue("b", 0, 1, "m", "m");
        var a2 = fc.Enqueue("a", 0, 1, "m", "m");
        _saturation = 0;
        var order = new List<FlowTicket>();
        foreach (var _ in Enumerable.Range(0, 3))
        {
            fc.RunCycle();
            order.Add(new[] { a1, b1, a2 }.Single(t => t.Outcome.IsCompleted && !order.Contains(t)));
        }
        Assert.Equal([a1, b1, a2], order);
    }

    [Fact]
    public async Task RoundRobinFairness_AlternatesFlows()
    {
        var spec = new FlowControlSpec();
        spec.PriorityBands.Add(new PriorityBandSpec { Priority = 0, FairnessPolicyRef = "rr" });
        await using var fc = Create(spec, new() { ["rr"] = new RoundRobinFairnessPolicy("rr") });
        _saturation = 1;
        var a1 = fc.Enqueue("a", 0, 1, "m", "m");
        var a2 = fc.Enqueue("a", 0, 1, "m", "m");
        var a3 = fc.Enqueue("a", 0, 1, "m", "m");
        var b1 = fc.Enqueue("b", 0, 1, "m", "m");
        _saturation = 0;
        var order = new List<FlowTicket>();
        foreach (var _ in Enumerable.Range(0, 4))
        {
            fc.RunCycle();
            order.Add(new[] { a1, a2, a3, b1 }.Single(t => t.Outcome.IsCompleted && !order.Contains(t)));
        }
        Assert.Equal([a1, b1, a2, a3], order);
    }

    [Fact]
    public async Task Capacity_RejectsAtEnqueue()
    {
        var spec = new FlowControlSpec { MaxRequests = 2 };
        spec.PriorityBands.Add(new PriorityBandSpec { Priority = 7, MaxBytes = 150 });
        await using var fc = Create(spec);
        _saturation = 1;
        fc.Enqueue("f", 0, 10, "m", "m");
        fc.Enqueue("f", 0, 10, "m", "m");
        AssertOutcome(fc.Enqueue("f", 0, 10, "m", "m"), AdmissionOutcome.RejectedCapacity); // global maxRequests

        await using var bytes = Create(spec);
        bytes.Enqueue("f", 7, 100, "m", "m");
        AssertOutcome(bytes.Enqueue("f", 7, 100, "m", "m"), AdmissionOutcome.RejectedCapacity); // band maxBytes
        Assert.Equal(1, bytes.QueuedRequests);

        await using var band = Create();
        AssertOutcome(band.Enqueue("f", 0, FlowController.DefaultBandMaxBytes + 1, "m", "m"), AdmissionOutcome.RejectedCapacity); // 1 GB band default
    }

    [Fact]
    public async Task Ttl_EvictsQueuedRequests()
    {
        await using var fc = Create(new FlowControlSpec { DefaultRequestTtl = TimeSpan.FromSeconds(2) });
        _saturation = 1;
        var old = fc.Enqueue("f", 0, 1, "m", "m");
        _time.Advance(TimeSpan.FromSeconds(1.5));
        var young = fc.Enqueue("f", 0, 1, "m", "m");
        _time.Advance(TimeSpan.FromSeconds(0.6));
        fc.RunCycle();
        AssertOutcome(old, AdmissionOutcome.EvictedTTL);
        Assert.False(young.Outcome.IsCompleted);
        Assert.Equal(1, fc.QueuedRequests);
    }

    [Fact]
    public async Task EdfOrdering_EarliestDeadlineFirst_SloDeadlineUsesTheHeader()
    {
        var spec = new FlowControlSpec();
        spec.PriorityBands.Add(new PriorityBandSpec { Priority = 0, OrderingPolicyRef = "slo" });
        await using var fc = Create(spec, new() { ["slo"] = new SloDeadlineOrderingPolicy("slo") });
        _saturation = 1;
        var relaxed = fc.Enqueue("f", 0, 1, "m", "m", sloTtftMs: 5000);
        var none = fc.Enqueue("f", 0, 1, "m", "m");                   // no header: far future
        var urgent = fc.Enqueue("f", 0, 1, "m", "m", sloTtftMs: 100);
        _saturation = 0;
        var order = new List<FlowTicket>();
        foreach (var _ in Enumerable.Range(0, 3))
        {
            fc.RunCycle();
            order.Add(new[] { relaxed, none, urgent }.Single(t => t.Outcome.IsCompleted && !order.Contains(t)));
        }
        Assert.Equal([urgent, relaxed, none], order);
    }

    [Fact]
    public async Task Cancel_And_Shutdown_Evict()
    {
        var fc = Create();
        _saturation = 1;
        var gone = fc.Enqueue("f", 0, 5, "m", "m");
        var waiting = fc.Enqueue("f", 0, 5, "m", "m");
        gone.Cancel();
        AssertOutcome(gone, AdmissionOutcome.EvictedContextCancelled);
        Assert.Equal((1, 5), (fc.QueuedRequests, fc.QueuedBytes));
        gone.Cancel(); // idempotent
        await fc.DisposeAsync();
        AssertOutcome(waiting, AdmissionOutcome.EvictedOther);
        AssertOutcome(fc.Enqueue("f", 0, 5, "m", "m"), AdmissionOutcome.RejectedOther);
    }

    [Fact]
    public async Task BackgroundDispatcher_ReleasesWhenSaturationDrops()
    {
        await using var fc = new FlowController(new FlowControlSpec(), () => Volatile.Read(ref _saturation), StaticUsageLimitPolicy.Default, static _ => null);
        Volatile.Write(ref _saturation, 1);
        var t = fc.Enqueue("f", 0, 1, "m", "m");
        // Proof the dispatcher looked at the queued request: three whole cycles begun after the enqueue.
        long cycles = fc.Cycles;
        await Wait.UntilAsync(() => fc.Cycles >= cycles + 3, "three dispatch cycles with the request queued");
        Assert.False(t.Outcome.IsCompleted);
        Volatile.Write(ref _saturation, 0); // e.g. a metrics scrape: the 1 ms cycle notices without a wake-up
        Assert.Equal(AdmissionOutcome.Dispatched, await t.Outcome.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
