using System.Diagnostics;
using System.Globalization;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace FastEpp.Observability;

/// <summary>
/// OpenTelemetry tracing as the reference sets it up (spec runtime.md §6.3, extproc.md §2.4.1 item 3): one
/// <c>gateway.request</c> server span per ext_proc stream, a <c>gateway.request_orchestration</c> child around the
/// decision, a parent-based trace-id-ratio sampler (OTEL_TRACES_SAMPLER_ARG, default 0.1), and the root span's
/// <c>traceparent</c> returned to the proxy in the header mutation — for unsampled streams too (flags 00), as the
/// Go SDK's non-recording spans carry valid ids. Spans are exported over OTLP when OTEL_TRACES_EXPORTER=otlp, to
/// stdout when it is <c>console</c>, and nowhere otherwise (the reference prints 10% of spans to stdout by default).
/// </summary>
internal sealed class EppTracing : IDisposable
{
    public const string RequestSourceName = "gateway-api-inference-extension/epp/extproc";
    public const string OrchestrationSourceName = "gateway-api-inference-extension";
    public const string BuildRef = "fastepp";

    private readonly TracerProvider _provider;

    private EppTracing(TracerProvider provider, string exporter, double ratio)
    {
        _provider = provider;
        Exporter = exporter;
        SamplingRatio = ratio;
    }

    public ActivitySource Requests { get; } = new(RequestSourceName, BuildRef);

    public ActivitySource Orchestration { get; } = new(OrchestrationSourceName);

    /// <summary>otlp, console or none.</summary>
    public string Exporter { get; }

    public double SamplingRatio { get; }

    /// <summary>Builds the tracer provider from the OTEL_* environment (<paramref name="environment"/> for tests).</summary>
    public static EppTracing Create(ILogger logger, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string sampler = environment("OTEL_TRACES_SAMPLER") ?? "parentbased_traceidratio";
        double ratio = 0.1;
        if (sampler != "parentbased_traceidratio")
            logger.LogError("OTEL_TRACES_SAMPLER={Sampler} is not supported; using parentbased_traceidratio with ratio 0.1", sampler);
        else if (double.TryParse(environment("OTEL_TRACES_SAMPLER_ARG"), NumberStyles.Float, CultureInfo.InvariantCulture, out double arg) && arg is >= 0 and <= 1)
            ratio = arg;

        string serviceName = environment("OTEL_SERVICE_NAME") is { Length: > 0 } name ? name : "gateway-api-inference-extension/epp";
        string exporter = environment("OTEL_TRACES_EXPORTER") switch
        {
            "otlp" => "otlp",
            "console" => "console",
            _ => "none",
        };
        var builder = Sdk.CreateTracerProviderBuilder()
            .AddSource(RequestSourceName, OrchestrationSourceName)
            .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)))
            .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService(serviceName, serviceVersion: BuildRef));
        if (exporter == "otlp")
        {
            // OTEL_EXPORTER_OTLP_ENDPOINT is read by the exporter; the reference defaults it to localhost:4317 (gRPC).
            builder.AddOtlpExporter(o =>
            {
                if (environment("OTEL_EXPORTER_OTLP_ENDPOINT") is not { Length: > 0 })
                    o.Endpoint = new Uri("http://localhost:4317");
            });
        }
        else if (exporter == "console")
        {
            builder.AddConsoleExporter();
        }
        var tracing = new EppTracing(builder.Build()!, exporter, ratio);
        logger.LogInformation("Tracing on: exporter {Exporter}, sampling ratio {Ratio}, service {Service}", exporter, ratio, serviceName);
        return tracing;
    }

    /// <summary>Starts the stream's root span without making it the ambient <see cref="Activity.Current"/>.</summary>
    public Activity? StartRequest()
    {
        Activity? previous = Activity.Current;
        Activity.Current = null; // a fresh root per stream, never linked to an ambient (e.g. hosting) activity
        Activity? activity = Requests.StartActivity("gateway.request", ActivityKind.Server, default(ActivityContext));
        activity?.SetTag("commit-sha", "unknown");
        Activity.Current = previous;
        return activity;
    }

    /// <summary>Starts <c>gateway.request_orchestration</c> under <paramref name="parent"/> (not ambient).</summary>
    public Activity? StartOrchestration(Activity parent)
    {
        Activity? previous = Activity.Current;
        Activity? activity = Orchestration.StartActivity("gateway.request_orchestration", ActivityKind.Internal, parent.Context);
        Activity.Current = previous;
        return activity;
    }

    /// <summary>The W3C <c>traceparent</c> of <paramref name="activity"/>: 00-trace-span-flags.</summary>
    public static string TraceParent(Activity activity) =>
        string.Concat("00-", activity.TraceId.ToHexString(), "-", activity.SpanId.ToHexString(),
            activity.ActivityTraceFlags.HasFlag(ActivityTraceFlags.Recorded) ? "-01" : "-00");

    public void Dispose()
    {
        _provider.ForceFlush(2000);
        _provider.Dispose();
        Requests.Dispose();
        Orchestration.Dispose();
    }
}
