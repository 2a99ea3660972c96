using FastEpp.Admission.Policies;
using FastEpp.Observability;
using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission;

/// <summary>
/// Flow control (spec runtime.md §4.4–§4.5) when the <c>flowControl</c> feature gate is on: every request waits in a
/// queue keyed by priority band and fairness id; a dispatcher releases at most one request per cycle from the
/// highest-priority band while the pool's saturation is below the usage-limit ceiling (a saturated pool stops the
/// whole cycle: lower bands never overtake). Capacity limits reject at enqueue (429), a TTL evicts (503), a client
/// that leaves is evicted. Cycles run right after an enqueue or a completion and every millisecond while anything is
/// queued — and not at all while the queues are empty (the reference ticks every millisecond regardless).
/// One lock guards the queues: enqueue, dispatch and eviction are short and rare next to the request's life.
/// </summary>
internal sealed class FlowController : IAsyncDisposable
{
    public const long DefaultBandMaxBytes = 1_000_000_000;

    private readonly Lock _lock = new();
    private readonly SortedDictionary<int, PriorityBand> _bands = new(Comparer<int>.Create(static (a, b) => b.CompareTo(a))); // highest first
    private readonly FlowControlSpec _spec;
    private readonly Func<double> _saturation;
    private readonly IUsageLimitPolicy _usageLimit;
    private readonly TimeProvider _time;
    private readonly EppMetrics? _metrics;
    private readonly string _poolName;
    private readonly Func<int, PriorityBandSpec> _bandSpec;
    private readonly Func<string, IPlugin?> _plugins;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _sequence, _queuedBytes, _queuedRequests, _nextSweep, _cycles;

    /// <param name="spec">The validated flowControl section.</param>
    /// <param name="saturation">Saturation of the whole pool (≥ ceiling stops dispatch).</param>
    /// <param name="usageLimit">The ceiling per band (static-usage-limit-policy: its threshold, default 1.0).</param>
    /// <param name="plugins">Configured plugins by name, for the bands' fairnessPolicyRef / orderingPolicyRef.</param>
    public FlowController(FlowControlSpec spec, Func<double> saturation, IUsageLimitPolicy usageLimit, Func<string, IPlugin?> plugins,
        TimeProvider? time = null, EppMetrics? metrics = null, string poolName = "", bool runDispatcher = true)
    {
        _spec = spec;
        _saturation = saturation;
        _usageLimit = usageLimit;
        _plugins = plugins;
        _time = time ?? TimeProvider.System;
        _metrics = metrics;
        _poolName = poolName;
        _bandSpec = priority =>
        {
            foreach (PriorityBandSpec b in spec.PriorityBands)
                if (b.Priority == priority)
                    return b;
            PriorityBandSpec t = spec.DefaultPriorityBand ?? new PriorityBandSpec();
            return new PriorityBandSpec { Priority = priority, MaxBytes = t.MaxBytes, MaxRequests = t.MaxRequests,
                FairnessPolicyRef = t.FairnessPolicyRef, OrderingPolicyRef = t.OrderingPolicyRef };
        };
        foreach (PriorityBandSpec b in spec.PriorityBands)
            _bands[b.Priority] = NewBand(b);
        // Tests drive RunCycle by hand for a deterministic order.
        _loop = runDispatcher ? Task.Run(DispatchLoopAsync) : Task.CompletedTask;
    }

    private PriorityBand NewBand(PriorityBandSpec spec) => new(spec,
        spec.FairnessPolicyRef.Length > 0 && _plugins(spec.FairnessPolicyRef) is IFairnessPolicy fairness ? fairness : GlobalStrictFairnessPolicy.Default,
        spec.OrderingPolicyRef.Length > 0 && _plugins(spec.OrderingPolicyRef) is IOrderingPolicy ordering ? ordering : FcfsOrderingPolicy.Default);

    public long QueuedRequests => Interlocked.Read(ref _queuedRequests);

    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>Dispatch cycles run so far (lets a caller prove the dispatcher looked at the queue).</summary>
    public long Cycles => Interlocked.Read(ref _cycles);

    /// <summary>Queues a request, or rejects it at once when a capacity limit would be exceeded.</summary>
    /// <param name="sloTtftMs">The <c>x-slo-ttft-ms</c> header value for slo-deadline ordering (negative: none).</param>
    public FlowTicket Enqueue(string fairnessId, int priority, long bytes, string model, string targetModel, long sloTtftMs = -1)
    {
        if (_stop.IsCancellationRequested)
            return Rejected(fairnessId, priority, model, targetModel, AdmissionOutcome.RejectedOther);
        long now = _time.GetTimestamp();
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        FlowTicket ticket;
        lock (_lock)
        {
            if (!_bands.TryGetValue(priority, out PriorityBand? band))
                _bands[priority] = band = NewBand(_bandSpec(priority));
            long bandMaxBytes = band.Spec.MaxBytes > 0 ? band.Spec.MaxBytes : DefaultBandMaxBytes;
            if ((_spec.MaxBytes > 0 && _queuedBytes + bytes > _spec.MaxBytes)
                || (_spec.MaxRequests > 0 && _queuedRequests + 1 > _spec.MaxRequests)
                || band.Bytes + bytes > bandMaxBytes
                || (band.Spec.MaxRequests > 0 && band.Count + 1 > band.Spec.MaxRequests))
            {
                _metrics?.FlowEnqueued(fairnessId, priority, AdmissionOutcome.RejectedCapacity, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
                return Rejected(fairnessId, priority, model, targetModel, AdmissionOutcome.RejectedCapacity);
            }

            long deadline = _spec.DefaultRequestTtl > TimeSpan.Zero
                ? now + (long)(_spec.DefaultRequestTtl.TotalSeconds * _time.TimestampFrequency) : long.MaxValue;
            long orderKey = band.Ordering.OrderKey(now, deadline, sloTtftMs, _time.TimestampFrequency);
            ticket = new FlowTicket(this, fairnessId, priority, bytes, ++_sequence, now, orderKey, deadline, model, targetModel);
            band.Add(ticket);
            _queuedBytes += bytes;
            _queuedRequests++;
        }
        _metrics?.FlowEnqueued(fairnessId, priority, null, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        _metrics?.FlowQueueChanged(fairnessId, priority, _poolName, model, targetModel, +1, bytes);
        Wake();
        return ticket;
    }

    /// <summary>A dispatched request finished (or its pool state changed): try another cycle.</summary>
    public void Wake()
    {
        if (_wake.CurrentCount == 0)
            _wake.Release();
    }

    private FlowTicket Rejected(string fairnessId, int priority, string model, string targetModel, AdmissionOutcome outcome)
    {
        _metrics?.FlowQueueDuration(fairnessId, priority, outcome, _poolName, model, targetModel, 0);
        return new FlowTicket(outcome);
    }

    internal void Evict(FlowTicket ticket, AdmissionOutcome outcome)
    {
        bool removed;
        lock (_lock)
            removed = RemoveLocked(ticket);
        if (removed)
            Finish(ticket, outcome);
    }

    private bool RemoveLocked(FlowTicket ticket)
    {
        if (!_bands.TryGetValue(ticket.Priority, out PriorityBand? band) || !band.Remove(ticket))
            return false;
        _queuedBytes -= ticket.Bytes;
        _queuedRequests--;
        return true;
    }

    private void Finish(FlowTicket ticket, AdmissionOutcome outcome)
    {
        if (!ticket.TryComplete(outcome))
            return;
        _metrics?.FlowQueueChanged(ticket.FairnessId, ticket.Priority, _poolName, ticket.Model, ticket.TargetModel, -1, ticket.Bytes);
        _metrics?.FlowQueueDuration(ticket.FairnessId, ticket.Priority, outcome, _poolName, ticket.Model, ticket.TargetModel,
            _time.GetElapsedTime(ticket.EnqueuedAt).TotalSeconds);
    }

    /// <summary>One dispatch cycle: expire, then release at most one request. Returns true when one was released.</summary>
    internal bool RunCycle()
    {
        long cycleStart = System.Diagnostics.Stopwatch.GetTimestamp();
        long now = _time.GetTimestamp();
        double saturation = _saturation();
        _metrics?.FlowPoolSaturation(_poolName, saturation);
        List<FlowTicket>? expired = null;
        FlowTicket? dispatched = null;
        lock (_lock)
        {
            // TTL sweep every 100 ms (the reference sweeps every second); a full scan, as orderings differ per band.
            if (now >= _nextSweep)
            {
                _nextSweep = now + _time.TimestampFrequency / 10;
                foreach (PriorityBand band in _bands.Values)
                    band.CollectExpired(now, ref expired);
            }
            if (expired is not null)
                foreach (FlowTicket t in expired)
                    RemoveLocked(t);
            foreach (PriorityBand band in _bands.Values)
            {
                if (band.Count == 0)
                    continue;
                if (saturation >= _usageLimit.Ceiling(band.Spec.Priority))
                    break; // head-of-line: a saturated pool stops the whole cycle
                dispatched = band.PickNext();
                if (dispatched is not null)
                {
                    RemoveLocked(dispatched);
                    break;
                }
            }
        }
        if (expired is not null)
            foreach (FlowTicket t in expired)
                Finish(t, AdmissionOutcome.EvictedTTL);
        if (dispatched is not null)
            Finish(dispatched, AdmissionOutcome.Dispatched);
        _metrics?.FlowDispatchCycle(System.Diagnostics.Stopwatch.GetElapsedTime(cycleStart).TotalSeconds);
        Interlocked.Increment(ref _cycles);
        return dispatched is not null;
    }

    private async Task DispatchLoopAsync()
    {
        CancellationToken stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (QueuedRequests == 0)
                    await _wake.WaitAsync(stop).ConfigureAwait(false);
                else
                    await _wake.WaitAsync(TimeSpan.FromMilliseconds(1), stop).ConfigureAwait(false);
                RunCycle();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        List<FlowTicket> left = [];
        lock (_lock)
        {
            foreach (PriorityBand band in _bands.Values)
                band.DrainTo(left);
            _queuedBytes = 0;
            _queuedRequests = 0;
        }
        foreach (FlowTicket t in left)
            Finish(t, AdmissionOutcome.EvictedOther); // shutdown: queued items are evicted
        _stop.Dispose();
        _wake.Dispose();
    }
}
