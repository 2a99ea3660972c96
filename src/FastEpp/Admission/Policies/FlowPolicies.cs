using FastEpp.Plugins;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary>
/// The configured flow-control policies by plugin name. The registry still declares them as
/// <see cref="ComponentPlugin"/>s (kind UsageLimitPolicy / FairnessPolicy / OrderingPolicy); this is the one
/// place that turns those into the policy classes, once at start-up.
/// </summary>
internal static class FlowPolicies
{
    public static Dictionary<string, IPlugin> From(IReadOnlyList<IPlugin> plugins)
    {
        var byName = new Dictionary<string, IPlugin>(StringComparer.Ordinal);
        foreach (IPlugin plugin in plugins)
            if (AsPolicy(plugin) is { } policy)
                byName[plugin.Name] = policy;
        return byName;
    }

    private static IPlugin? AsPolicy(IPlugin plugin) => plugin switch
    {
        IOrderingPolicy or IFairnessPolicy or IUsageLimitPolicy => plugin,
        ComponentPlugin c => c.TypeName switch
        {
            PluginTypes.FcfsOrderingPolicy => new FcfsOrderingPolicy(c.Name),
            PluginTypes.EdfOrderingPolicy => new EdfOrderingPolicy(c.Name),
            PluginTypes.SloDeadlineOrderingPolicy => new SloDeadlineOrderingPolicy(c.Name),
            PluginTypes.GlobalStrictFairnessPolicy => new GlobalStrictFairnessPolicy(c.Name),
            PluginTypes.RoundRobinFairnessPolicy => new RoundRobinFairnessPolicy(c.Name),
            PluginTypes.StaticUsageLimitPolicy => new StaticUsageLimitPolicy(c.Name, c.UsageLimitThreshold),
            _ => null,
        },
        _ => null,
    };
}
