using Envoy.Config.Core.V3;
using FastEpp.Configuration;
using FastEpp.Scheduling;
using Google.Protobuf.WellKnownTypes;

namespace FastEpp.Requests;

/// <summary>
/// A plugin that sees the response headers (the reference's ResponseHeader extension point) and may add response
/// headers, which the EPP then sets (unless system-owned). <paramref name="metadata"/> is the response-headers
/// message's own <c>metadata_context</c> (null when it carries none).
/// </summary>
internal interface IResponseHeadersPlugin : IPlugin
{
    void ResponseReceived(Metadata? metadata, Dictionary<string, string> addHeaders);
}

/// <summary>
/// <c>destination-endpoint-served-verifier</c>, the gateway-conformance plugin (spec extproc.md §2.6, §5): on
/// the response it echoes the endpoint the gateway says it served (<c>envoy.lb</c> metadata
/// <c>x-gateway-destination-endpoint-served</c>) as <c>x-conformance-test-served-endpoint</c>, or says what
/// was missing: <c>fail: missing envoy lb metadata</c> / <c>fail: missing destination endpoint served metadata</c>.
/// </summary>
internal sealed class DestinationEndpointServedVerifier(string name) : Plugin(name), IResponseHeadersPlugin
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("destination-endpoint-served-verifier", static (n, _, _) => new DestinationEndpointServedVerifier(n));

    public const string ResultHeader = "x-conformance-test-served-endpoint";
    public const string MissingLbMetadata = "fail: missing envoy lb metadata";
    public const string MissingServedMetadata = "fail: missing destination endpoint served metadata";

    public override string TypeName => Type.Name;

    public void ResponseReceived(Metadata? metadata, Dictionary<string, string> addHeaders)
    {
        if (metadata is null || !metadata.FilterMetadata.TryGetValue(HeaderNames.LbMetadataNamespace, out Struct? lb))
        {
            addHeaders[ResultHeader] = MissingLbMetadata;
            return;
        }
        addHeaders[ResultHeader] = lb.Fields.TryGetValue(HeaderNames.DestinationEndpointServed, out Value? served) && served.KindCase == Value.KindOneofCase.StringValue
            ? served.StringValue
            : MissingServedMetadata;
    }
}
