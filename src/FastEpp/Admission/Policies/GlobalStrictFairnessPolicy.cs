using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary><c>global-strict-fairness-policy</c> (the default): the best head across all flows, as if the band were one queue.</summary>
internal sealed class GlobalStrictFairnessPolicy(string name) : Plugin(name), IFairnessPolicy
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("global-strict-fairness-policy", static (name, p, c) => new GlobalStrictFairnessPolicy(name));

    public static readonly GlobalStrictFairnessPolicy Default = new(Type.Name);

    public override string TypeName => Type.Name;

    public FlowTicket? PickNext(PriorityBand band)
    {
        FlowTicket? best = null;
        foreach (var flow in band.Flows.Values)
            if (flow.Min is { } head && (best is null || FlowTicket.Order.Compare(head, best) < 0))
                best = head;
        return best;
    }
}
