using FastEpp.Scheduling;

namespace FastEpp.Configuration;

/// <summary>What a <see cref="ComponentPlugin"/> is, for the loader's type checks and for the host's wiring.</summary>
internal enum ComponentKind
{
    OrderingPolicy,
    FairnessPolicy,
    UsageLimitPolicy,
    ResponseHeader,
}

/// <summary>
/// The configured plugins whose behaviour the flow controller or the response path looks up by type name:
/// flow-control policies and the conformance verifier. It keeps its validated parameters.
/// </summary>
internal sealed class ComponentPlugin : IPlugin
{
    private ComponentPlugin(string typeName, string name, ComponentKind kind)
    {
        TypeName = typeName;
        Name = name;
        Kind = kind;
    }

    public string TypeName { get; }

    public string Name { get; }

    public ComponentKind Kind { get; }

    /// <summary><c>static-usage-limit-policy</c>: threshold.</summary>
    public double UsageLimitThreshold { get; private init; } = 1.0;

    public static readonly PluginType GlobalStrictFairnessPolicy = Of("global-strict-fairness-policy", ComponentKind.FairnessPolicy);
    public static readonly PluginType RoundRobinFairnessPolicy = Of("round-robin-fairness-policy", ComponentKind.FairnessPolicy);
    public static readonly PluginType FcfsOrderingPolicy = Of("fcfs-ordering-policy", ComponentKind.OrderingPolicy);
    public static readonly PluginType EdfOrderingPolicy = Of("edf-ordering-policy", ComponentKind.OrderingPolicy);
    public static readonly PluginType SloDeadlineOrderingPolicy = Of("slo-deadline-ordering-policy", ComponentKind.OrderingPolicy);
    public static readonly PluginType StaticUsageLimitPolicy = new("static-usage-limit-policy", static (n, p, _) =>
        new ComponentPlugin("static-usage-limit-policy", n, ComponentKind.UsageLimitPolicy) { UsageLimitThreshold = p.GetDouble("threshold", 1.0) });
    public static readonly PluginType DestinationEndpointServedVerifier = Of("destination-endpoint-served-verifier", ComponentKind.ResponseHeader);

    private static PluginType Of(string type, ComponentKind kind) => new(type, (n, _, _) => new ComponentPlugin(type, n, kind));
}
