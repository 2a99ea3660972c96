using FastEpp.Plugins;

namespace FastEpp.Admission.Policies;

/// <summary><c>round-robin-fairness-policy</c>: flows take turns, in fairness-id order, one request per turn.</summary>
internal sealed class RoundRobinFairnessPolicy(string name) : IFairnessPolicy
{
    public string TypeName => PluginTypes.RoundRobinFairnessPolicy;

    public string Name { get; } = name;

    public FlowTicket? PickNext(PriorityBand band)
    {
        // Flows sorted by id; the cursor moves to the next non-empty flow after the last one served.
        string? cursor = band.FairnessCursor;
        string? next = null, first = null;
        foreach (string id in band.Flows.Keys)
        {
            first ??= id;
            if (cursor is null || string.CompareOrdinal(id, cursor) > 0)
            {
                next = id;
                break;
            }
        }
        band.FairnessCursor = next ?? first;
        return band.Flows[band.FairnessCursor!].Min;
    }
}
