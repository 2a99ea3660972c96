using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary><c>round-robin-fairness-policy</c>: flows take turns, in fairness-id order, one request per turn.</summary>
internal sealed class RoundRobinFairnessPolicy(string name) : Plugin(name), IFairnessPolicy
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("round-robin-fairness-policy", static (name, p, c) => new RoundRobinFairnessPolicy(name));

    public override string TypeName => Type.Name;

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
