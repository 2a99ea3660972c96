using System.Diagnostics;
using FastEpp.Body;
using FastEpp.Scheduling;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Requests;

/// <summary>
/// One inference request as the EPP follows it through its stream: what the headers said, what the
/// <see cref="RequestDirector"/> decided, what the <see cref="ResponseProcessor"/> saw, and the accounting that
/// must end exactly once (in-flight count, running gauge, error counter, the root span). Pooled with its
/// stream and reset between streams; not thread-safe.
/// </summary>
internal sealed class InferenceRequest(RequestServices services)
{
    private bool _counted;
    private bool _running;

    /// <summary>What the scheduler and admission see (id, fairness, objective, priority, body).</summary>
    public SchedulingRequest Scheduling { get; } = new();

    public ParsedRequest Parsed { get; } = new();

    /// <summary>Request headers by key as received (last wins), as strings.</summary>
    public Dictionary<string, string> Headers { get; } = new(StringComparer.Ordinal);

    /// <summary>The model as the client named it.</summary>
    public string IncomingModel { get; set; } = "";

    /// <summary>The model sent upstream: the rewrite header's, a rewrite rule's, else the incoming one.</summary>
    public string TargetModel { get; set; } = "";

    /// <summary>The primary endpoint chosen (null until routed).</summary>
    public Endpoint? Target { get; private set; }

    /// <summary>The response is server-sent events (the request asked to stream, or the response says so).</summary>
    public bool StreamingResponse { get; set; }

    /// <summary>The stream's root span (gateway.request); null when tracing is off or not sampled.</summary>
    public Activity? Span { get; private set; }

    /// <summary>When the request headers arrived (Stopwatch ticks).</summary>
    public long ReceivedAt { get; private set; }

    /// <summary>The first error of the stream, or a non-200 upstream: the error counter's label at the end.</summary>
    public string ErrorCode { get; set; } = "";

    /// <summary>The error answered with an ImmediateResponse (for the service's log line).</summary>
    public InferenceError? LastError { get; private set; }

    /// <summary>Scheduled and counted in the running gauge (response metrics are recorded only then).</summary>
    public bool Running => _running;

    /// <summary>Request headers arrived: count it, start the clock and the root span.</summary>
    public void Begin()
    {
        services.Stats.Request();
        ReceivedAt = Stopwatch.GetTimestamp();
        Span = services.Tracing?.StartRequest();
    }

    /// <summary>
    /// The stream began with response headers (the gateway's processing mode skips the request phase): no
    /// routing, but the response is processed as any other (usage, response metrics with empty model names).
    /// </summary>
    public bool ResponseOnly { get; private set; }

    /// <summary>A response-only stream begins: counted, clocked and traced from its first message.</summary>
    public void BeginResponseOnly()
    {
        Begin();
        ResponseOnly = true;
    }

    /// <summary>Takes fairness id, objective and the model-rewrite header from <see cref="Headers"/>.</summary>
    public void AcceptHeaders()
    {
        Scheduling.FairnessId = Headers.TryGetValue(HeaderNames.FairnessId, out var f) && f.Length > 0 ? f : "default-flow";
        Scheduling.ObjectiveKey = Headers.TryGetValue(HeaderNames.InferenceObjective, out var o) ? o : "";
        TargetModel = Headers.TryGetValue(HeaderNames.ModelNameRewrite, out var r) ? r : "";
        Scheduling.Headers = Headers;
    }

    /// <summary>Routed to <paramref name="endpoint"/>: counts it in flight until <see cref="Release"/>.</summary>
    public void Track(Endpoint endpoint)
    {
        Target = endpoint;
        endpoint.State.IncrementInFlight();
        services.Stats.Started();
        _counted = true;
    }

    /// <summary>Scheduled with a body: the scheduled-request metrics and the running gauge.</summary>
    public void Scheduled(long outgoingBytes)
    {
        services.Metrics.RequestScheduled(IncomingModel, TargetModel, Scheduling.Priority, outgoingBytes);
        services.Metrics.RunningChanged(IncomingModel, +1);
        _running = true;
    }

    /// <summary>Answered with an error: counted, remembered (the first error code wins).</summary>
    public void Failed(InferenceError error)
    {
        services.Stats.Error();
        if (ErrorCode.Length == 0)
            ErrorCode = error.Code;
        LastError = error;
    }

    /// <summary>Ends the request's accounting (response complete, error, or stream gone). Idempotent.</summary>
    public void Release()
    {
        if (!_counted)
            return;
        _counted = false;
        Target?.State.DecrementInFlight();
        services.Stats.Finished();
        services.Admission.RequestFinished(); // a finished request may let a queued one through
        services.Scheduler.ResponseComplete(Scheduling, Target);
    }

    /// <summary>Once per stream, at its end: the in-flight release, the error counter and the running gauge, the root span; then a clean state.</summary>
    public void End()
    {
        Release();
        if (ErrorCode.Length > 0)
            services.Metrics.RequestError(IncomingModel, TargetModel, ErrorCode);
        if (_running)
            services.Metrics.RunningChanged(IncomingModel, -1);
        _running = false;
        ResponseOnly = false;
        ErrorCode = "";
        Span?.Dispose(); // ends gateway.request
        Span = null;
        ReceivedAt = 0;
        Parsed.Reset();
        Scheduling.Reset();
        Headers.Clear();
        IncomingModel = "";
        TargetModel = "";
        Target = null;
        StreamingResponse = false;
        LastError = null;
    }
}
