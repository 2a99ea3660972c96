namespace FastEpp.Requests;

/// <summary>
/// Every header name (and Envoy metadata key) the EPP reads or writes, spelt once. Keys as the reference
/// writes them: Envoy sends request keys lowercase, so lookups are ordinal.
/// </summary>
internal static class HeaderNames
{
    // Read from the request (Gateway API Inference Extension protocol).
    public const string RequestId = "x-request-id";
    public const string InferenceObjective = "x-gateway-inference-objective";
    public const string FairnessId = "x-gateway-inference-fairness-id";
    public const string ModelNameRewrite = "x-gateway-model-name-rewrite";
    /// <summary>Time-to-first-token objective in milliseconds (slo-deadline ordering of flow control).</summary>
    public const string SloTtftMs = "x-slo-ttft-ms";
    public const string Path = ":path";
    public const string OriginalPath = "x-original-path";
    public const string ForwardedPath = "x-forwarded-path";

    // Written on the request-headers reply (and as envoy.lb metadata).
    public const string DestinationEndpoint = "x-gateway-destination-endpoint";
    public const string DestinationEndpointSubset = "x-gateway-destination-endpoint-subset";
    public const string DestinationEndpointServed = "x-gateway-destination-endpoint-served";
    /// <summary>The spelling the reference sets after a body change (Envoy matches keys case-insensitively).</summary>
    public const string ContentLengthReply = "Content-Length";
    /// <summary>The spelling Envoy sends (and the EPP never echoes).</summary>
    public const string ContentLength = "content-length";
    /// <summary>W3C trace context of the stream's root span (spec extproc.md §2.4.1 item 3).</summary>
    public const string TraceParent = "traceparent";

    // Response phase.
    public const string ContentType = "content-type";
    /// <summary>The reference checks "status" (Envoy sends ":status"), so with Envoy the check never fires.</summary>
    public const string Status = "status";
    /// <summary>Set on every response-headers reply (the reference's marker).</summary>
    public const string WentIntoResponseHeaders = "x-went-into-resp-headers";

    // Envoy dynamic/filter metadata namespaces.
    /// <summary>Where the reply's metadata carries the destination (key <see cref="DestinationEndpoint"/>).</summary>
    public const string LbMetadataNamespace = "envoy.lb";
    /// <summary>Where the gateway's candidate subset arrives (key <see cref="DestinationEndpointSubset"/>), spec §2.7.</summary>
    public const string SubsetHintNamespace = "envoy.lb.subset_hint";
}
