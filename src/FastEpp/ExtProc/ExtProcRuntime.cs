using FastEpp.Endpoints;
using FastEpp.Kubernetes;
using FastEpp.Scheduling;

namespace FastEpp.ExtProc;

/// <summary>Everything a stream needs from the rest of the process; built once by Hosting.</summary>
internal sealed class ExtProcRuntime
{
    public required EndpointRegistry Registry { get; init; }
    public required IRequestScheduler Scheduler { get; init; }
    public long MaxRequestBodyBytes { get; init; } = 64L * 1024 * 1024;
    public bool DisableEndpointSubsetFilter { get; init; }
    /// <summary>InferenceObjective priority by name; null when unknown (→ 0).</summary>
    public Func<string, int?> PriorityLookup { get; init; } = static _ => null;
    /// <summary>Current InferenceModelRewrite rules (empty without Kubernetes).</summary>
    public Func<ModelRewriteSnapshot> ModelRewrites { get; init; } = static () => ModelRewriteSnapshot.Empty;
    /// <summary>Legacy admission: saturation of the candidate set (≥ 1 sheds priority &lt; 0 requests).</summary>
    public Func<EndpointSnapshot, ReadOnlySpan<int>, double>? Saturation { get; init; }
    public ExtProcStats Stats { get; } = new();
    /// <summary>The reference's request and scheduler metric families.</summary>
    public Observability.EppMetrics Metrics { get; init; } = new();
    /// <summary>OpenTelemetry spans and the traceparent header (--tracing); null = off.</summary>
    public Observability.EppTracing? Tracing { get; init; }
    /// <summary>Flow control (feature gate <c>flowControl</c>); null = legacy admission.</summary>
    public Admission.FlowController? FlowControl { get; init; }
}

/// <summary>Process-wide counters of the ext_proc layer (exported on the metrics port).</summary>
internal sealed class ExtProcStats
{
    private long _requests, _errors, _protocolErrors, _running, _completed;
    public long Requests => Interlocked.Read(ref _requests);
    public long Errors => Interlocked.Read(ref _errors);
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);
    public long Running => Interlocked.Read(ref _running);
    public long Completed => Interlocked.Read(ref _completed);
    public void Request() => Interlocked.Increment(ref _requests);
    public void Error() => Interlocked.Increment(ref _errors);
    public void ProtocolError() => Interlocked.Increment(ref _protocolErrors);
    public void Started() => Interlocked.Increment(ref _running);
    public void Finished()
    {
        Interlocked.Decrement(ref _running);
        Interlocked.Increment(ref _completed);
    }
}
