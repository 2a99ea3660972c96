using FastEpp.Scheduling;

namespace FastEpp.Configuration;

/// <summary>What a <see cref="ComponentPlugin"/> is, for the loader's type checks and for the host's wiring.</summary>
internal enum ComponentKind
{
    ResponseHeader,
}

/// <summary>
/// The configured plugins whose behaviour the response path looks up by type name: the conformance verifier.
/// (The flow-control policies are classes of their own in Admission/Policies.)
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

    public static readonly PluginType DestinationEndpointServedVerifier = Of("destination-endpoint-served-verifier", ComponentKind.ResponseHeader);

    private static PluginType Of(string type, ComponentKind kind) => new(type, (n, _, _) => new ComponentPlugin(type, n, kind));
}
