using FastEpp.Admission;
using FastEpp.Endpoints;
using FastEpp.Scheduling;

namespace FastEpp.Requests;

/// <summary>Everything handling an inference request needs from the rest of the process; built once by Hosting, shared by every stream.</summary>
internal sealed class RequestServices
{
    public required EndpointRegistry Registry { get; init; }
    public required IRequestScheduler Scheduler { get; init; }
    /// <summary>The configured parser (EndpointPickerConfig <c>parser</c>): request bodies and response usage.</summary>
    public Parsers.IRequestParser Parser { get; init; } = Parsers.OpenAiParser.Default;
    public long MaxRequestBodyBytes { get; init; } = 64L * 1024 * 1024;
    public bool DisableEndpointSubsetFilter { get; init; }
    /// <summary>InferenceObjective priority by name; null when unknown (→ 0).</summary>
    public Func<string, int?> PriorityLookup { get; init; } = static _ => null;
    /// <summary>Current InferenceModelRewrite rules (empty without Kubernetes).</summary>
    public Func<ModelRewriteSnapshot> ModelRewrites { get; init; } = static () => ModelRewriteSnapshot.Empty;
    /// <summary>Legacy shedding or flow control, as configured; admits everything by default.</summary>
    public AdmissionControl Admission { get; init; } = AdmissionControl.AdmitAll;
    /// <summary>Configured plugins that see the response headers (destination-endpoint-served-verifier).</summary>
    public IResponseHeadersPlugin[] ResponseHeadersPlugins { get; init; } = [];
    /// <summary>Configured request-attribute-reporters: dynamic metadata on the response's last piece.</summary>
    public RequestAttributeReporter[] Reporters { get; init; } = [];
    public RequestStats Stats { get; } = new();
    /// <summary>The reference's request and scheduler metric families.</summary>
    public Observability.EppMetrics Metrics { get; init; } = new();
    /// <summary>OpenTelemetry spans and the traceparent header (--tracing); null = off.</summary>
    public Observability.EppTracing? Tracing { get; init; }
}
