using FastEpp.Observability;
using FastEpp.Configuration;

namespace FastEpp.Admission;

/// <summary>How a flow-controlled request left the queue (the reference's QueueOutcome; metric label values).</summary>
internal enum AdmissionOutcome { Dispatched, RejectedCapacity, RejectedOther, EvictedTTL, EvictedContextCancelled, EvictedOther }

/// <summary>One queued request: completes once with its outcome.</summary>
internal sealed class FlowTicket
{
    private readonly TaskCompletionSource<AdmissionOutcome> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private FlowController? _owner;

    internal FlowTicket(FlowController owner, string fairnessId, int priority, long bytes, long sequence, long enqueuedAt, long orderKey, long deadline,
        string model, string targetModel)
    {
        _owner = owner;
        FairnessId = fairnessId;
        Priority = priority;
        Bytes = bytes;
        Sequence = sequence;
        EnqueuedAt = enqueuedAt;
        OrderKey = orderKey;
        Deadline = deadline;
        Model = model;
        TargetModel = targetModel;
    }

    /// <summary>An already-decided ticket (rejected at enqueue).</summary>
    internal FlowTicket(AdmissionOutcome outcome)
    {
        FairnessId = "";
        Model = TargetModel = "";
        _done.SetResult(outcome);
    }

    public string FairnessId { get; }
    public int Priority { get; }
    public long Bytes { get; }
    public string Model { get; }
    public string TargetModel { get; }
    internal long Sequence { get; }
    internal long EnqueuedAt { get; }
    /// <summary>Ordering key: enqueue time (fcfs) or deadline (edf, slo-deadline); ties by sequence.</summary>
    internal long OrderKey { get; }
    /// <summary>TTL deadline in time-provider ticks; long.MaxValue = none.</summary>
    internal long Deadline { get; }

    public Task<AdmissionOutcome> Outcome => _done.Task;

    /// <summary>The client went away: leave the queue (EvictedContextCancelled). Safe to call at any time.</summary>
    public void Cancel() => _owner?.Evict(this, AdmissionOutcome.EvictedContextCancelled);

    internal bool TryComplete(AdmissionOutcome outcome)
    {
        _owner = null;
        return _done.TrySetResult(outcome);
    }
}

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
    private readonly SortedDictionary<int, Band> _bands = new(Comparer<int>.Create(static (a, b) => b.CompareTo(a))); // highest first
    private readonly FlowControlSpec _spec;
    private readonly Func<double> _saturation;
    private readonly double _ceiling;
    private readonly TimeProvider _time;
    private readonly EppMetrics? _metrics;
    private readonly string _poolName;
    private readonly Func<int, PriorityBandSpec> _bandSpec;
    private readonly Func<string, string> _policyType;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _sequence, _queuedBytes, _queuedRequests, _nextSweep;

    /// <param name="spec">The validated flowControl section.</param>
    /// <param name="saturation">Saturation of the whole pool (≥ ceiling stops dispatch).</param>
    /// <param name="ceiling">The usage-limit policy's threshold (static-usage-limit-policy, default 1.0).</param>
    /// <param name="policyType">Plugin name → type, for the bands' fairnessPolicyRef / orderingPolicyRef.</param>
    public FlowController(FlowControlSpec spec, Func<double> saturation, double ceiling, Func<string, string> policyType,
        TimeProvider? time = null, EppMetrics? metrics = null, string poolName = "", bool runDispatcher = true)
    {
        _spec = spec;
        _saturation = saturation;
        _ceiling = ceiling;
        _policyType = policyType;
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
            _bands[b.Priority] = new Band(b, _policyType);
        // Tests drive RunCycle by hand for a deterministic order.
        _loop = runDispatcher ? Task.Run(DispatchLoopAsync) : Task.CompletedTask;
    }

    public long QueuedRequests => Interlocked.Read(ref _queuedRequests);

    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

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
            if (!_bands.TryGetValue(priority, out Band? band))
                _bands[priority] = band = new Band(_bandSpec(priority), _policyType);
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
            long orderKey = band.Ordering == ComponentPlugin.EdfOrderingPolicy.Name ? deadline
                : band.Ordering == ComponentPlugin.SloDeadlineOrderingPolicy.Name ? (sloTtftMs >= 0 ? now + sloTtftMs * _time.TimestampFrequency / 1000 : long.MaxValue)
                : now;
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
        if (!_bands.TryGetValue(ticket.Priority, out Band? band) || !band.Remove(ticket))
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
                foreach (Band band in _bands.Values)
                    band.CollectExpired(now, ref expired);
            }
            if (expired is not null)
                foreach (FlowTicket t in expired)
                    RemoveLocked(t);
            foreach (Band band in _bands.Values)
            {
                if (band.Count == 0)
                    continue;
                if (saturation >= _ceiling)
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
            foreach (Band band in _bands.Values)
                band.DrainTo(left);
            _queuedBytes = 0;
            _queuedRequests = 0;
        }
        foreach (FlowTicket t in left)
            Finish(t, AdmissionOutcome.EvictedOther); // shutdown: queued items are evicted
        _stop.Dispose();
        _wake.Dispose();
    }

    /// <summary>One priority band: flows by fairness id, each ordered by (OrderKey, Sequence).</summary>
    private sealed class Band
    {
        private static readonly Comparer<FlowTicket> s_order = Comparer<FlowTicket>.Create(static (a, b) =>
            a.OrderKey != b.OrderKey ? a.OrderKey.CompareTo(b.OrderKey) : a.Sequence.CompareTo(b.Sequence));

        private readonly SortedDictionary<string, SortedSet<FlowTicket>> _flows = new(StringComparer.Ordinal);
        private string? _cursor; // round-robin: the last flow served

        public Band(PriorityBandSpec spec, Func<string, string> policyType)
        {
            Spec = spec;
            Fairness = spec.FairnessPolicyRef.Length > 0 ? policyType(spec.FairnessPolicyRef) : ComponentPlugin.GlobalStrictFairnessPolicy.Name;
            Ordering = spec.OrderingPolicyRef.Length > 0 ? policyType(spec.OrderingPolicyRef) : ComponentPlugin.FcfsOrderingPolicy.Name;
        }

        public PriorityBandSpec Spec { get; }
        public string Fairness { get; }
        public string Ordering { get; }
        public int Count { get; private set; }
        public long Bytes { get; private set; }

        public void Add(FlowTicket t)
        {
            if (!_flows.TryGetValue(t.FairnessId, out var flow))
                _flows[t.FairnessId] = flow = new SortedSet<FlowTicket>(s_order);
            flow.Add(t);
            Count++;
            Bytes += t.Bytes;
        }

        public bool Remove(FlowTicket t)
        {
            if (!_flows.TryGetValue(t.FairnessId, out var flow) || !flow.Remove(t))
                return false;
            if (flow.Count == 0)
                _flows.Remove(t.FairnessId); // idle flows are dropped at once (the reference garbage-collects them)
            Count--;
            Bytes -= t.Bytes;
            return true;
        }

        /// <summary>The fairness policy's choice among the flows' heads.</summary>
        public FlowTicket? PickNext()
        {
            if (_flows.Count == 0)
                return null;
            if (Fairness == ComponentPlugin.RoundRobinFairnessPolicy.Name)
            {
                // Flows sorted by id; the cursor moves to the next non-empty flow after the last one served.
                string? next = null, first = null;
                foreach (string id in _flows.Keys)
                {
                    first ??= id;
                    if (_cursor is null || string.CompareOrdinal(id, _cursor) > 0)
                    {
                        next = id;
                        break;
                    }
                }
                _cursor = next ?? first;
                return _flows[_cursor!].Min;
            }
            FlowTicket? best = null; // global strict: the best head across flows
            foreach (var flow in _flows.Values)
                if (flow.Min is { } head && (best is null || s_order.Compare(head, best) < 0))
                    best = head;
            return best;
        }

        public void CollectExpired(long now, ref List<FlowTicket>? expired)
        {
            foreach (var flow in _flows.Values)
                foreach (FlowTicket t in flow)
                    if (t.Deadline <= now)
                        (expired ??= []).Add(t);
        }

        public void DrainTo(List<FlowTicket> into)
        {
            foreach (var flow in _flows.Values)
                into.AddRange(flow);
            _flows.Clear();
            Count = 0;
            Bytes = 0;
        }
    }
}
