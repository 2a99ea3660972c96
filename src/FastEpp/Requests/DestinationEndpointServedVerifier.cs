using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Requests;

/// <summary>
/// <c>destination-endpoint-served-verifier</c>, the gateway-conformance plugin (spec extproc.md §2.6, §5): on
/// the response it echoes the endpoint the gateway says it served (<c>envoy.lb</c> metadata
/// <c>x-gateway-destination-endpoint-served</c>) as <c>x-conformance-test-served-endpoint</c>.
/// </summary>
internal sealed class DestinationEndpointServedVerifier(string name) : Plugin(name)
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("destination-endpoint-served-verifier", static (n, _, _) => new DestinationEndpointServedVerifier(n));

    public override string TypeName => Type.Name;
}
