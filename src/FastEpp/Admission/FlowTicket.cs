namespace FastEpp.Admission;

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

    /// <summary>Queue order within a flow: <see cref="OrderKey"/>, then arrival.</summary>
    internal static readonly Comparer<FlowTicket> Order = Comparer<FlowTicket>.Create(static (a, b) =>
        a.OrderKey != b.OrderKey ? a.OrderKey.CompareTo(b.OrderKey) : a.Sequence.CompareTo(b.Sequence));

    public string FairnessId { get; }
    public int Priority { get; }
    public long Bytes { get; }
    public string Model { get; }
    public string TargetModel { get; }
    internal long Sequence { get; }
    internal long EnqueuedAt { get; }
    /// <summary>Ordering key from the band's ordering policy (smaller first); ties by sequence.</summary>
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
