using FastEpp.Admission.Policies;
using FastEpp.Configuration;

namespace FastEpp.Admission;

/// <summary>
/// One priority band of the flow controller: a queue per fairness id (flow), each ordered by
/// <see cref="FlowTicket.Order"/>. Its fairness policy picks the flow served next; its ordering policy
/// gave each ticket its key at enqueue. Guarded by the controller's lock.
/// </summary>
internal sealed class PriorityBand
{
    private readonly SortedDictionary<string, SortedSet<FlowTicket>> _flows = new(StringComparer.Ordinal);

    public PriorityBand(PriorityBandSpec spec, IFairnessPolicy fairness, IOrderingPolicy ordering)
    {
        Spec = spec;
        Fairness = fairness;
        Ordering = ordering;
    }

    public PriorityBandSpec Spec { get; }
    public IFairnessPolicy Fairness { get; }
    public IOrderingPolicy Ordering { get; }
    public int Count { get; private set; }
    public long Bytes { get; private set; }

    /// <summary>Non-empty flows by fairness id, in ordinal id order.</summary>
    public SortedDictionary<string, SortedSet<FlowTicket>> Flows => _flows;

    /// <summary>What the fairness policy remembers between cycles for this band (round-robin: the last flow served).</summary>
    public string? FairnessCursor { get; set; }

    public void Add(FlowTicket t)
    {
        if (!_flows.TryGetValue(t.FairnessId, out var flow))
            _flows[t.FairnessId] = flow = new SortedSet<FlowTicket>(FlowTicket.Order);
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
    public FlowTicket? PickNext() => _flows.Count == 0 ? null : Fairness.PickNext(this);

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
