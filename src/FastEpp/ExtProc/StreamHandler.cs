using System.Buffers;
using CommunityToolkit.HighPerformance.Buffers;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Body;
using FastEpp.Endpoints;
using FastEpp.Scheduling;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.ExtProc;

/// <summary>
/// The state machine of one ext_proc stream (= one HTTP request/response), spec extproc.md §2.
/// <see cref="Handle"/> consumes one message and appends the replies that are ready, in order, to an
/// outbox; the service writes them. Not thread-safe: one stream, one handler.
/// </summary>
internal sealed class StreamHandler
{
    /// <summary>Request header keys the EPP owns and never echoes (spec §2.4.1 item 4).</summary>
    private static readonly HashSet<string> s_systemOwned = new(StringComparer.Ordinal)
    {
        "x-gateway-inference-fairness-id", "x-gateway-inference-objective", "x-gateway-model-name-rewrite",
        "x-gateway-destination-endpoint-subset", "x-gateway-destination-endpoint",
        "x-gateway-destination-endpoint-served", "content-length",
    };

    private const string SubsetNamespace = "envoy.lb.subset_hint";
    private const string SubsetKey = "x-gateway-destination-endpoint-subset";

    private readonly ExtProcRuntime _runtime;
    private readonly BodyBuffer _body = new();
    private readonly ParsedRequest _parsed = new();
    private readonly SchedulingRequest _request = new();
    // Headers by key (last wins) plus the original HeaderValue so echoing reuses the received bytes.
    private readonly Dictionary<string, HeaderValue> _requestHeaders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _requestHeaderStrings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HeaderValue> _responseHeaders = new(StringComparer.Ordinal);

    private Phase _phase = Phase.AwaitingRequestHeaders;
    private bool _responseStreaming;
    private bool _responseComplete;
    private string _incomingModel = "";
    private string _targetModel = "";
    private Endpoint? _target;
    private bool _counted;
    private Usage _usage;
    // Observability (reference metric semantics, spec runtime.md §6.1).
    private long _receivedAt;
    private long _responseBytes;
    private bool _running;
    private string _errorCode = "";
    private System.Diagnostics.Activity? _span;
    // Flow control: the queued request and what the decision needs once it is dispatched.
    private Admission.FlowTicket? _ticket;
    private Metadata? _pendingMetadata;
    private bool _pendingLastEndOfStream, _pendingTrailers;

    public StreamHandler(ExtProcRuntime runtime) => _runtime = runtime;

    /// <summary>Reusable list the service fills per message.</summary>
    public List<ProcessingResponse> Outbox { get; } = new(8);

    public enum Phase
    {
        AwaitingRequestHeaders,
        ReceivingRequestBody,
        RequestComplete,
        ResponseHeadersDone,
        ResponseComplete,
        Done,
    }

    public Phase CurrentPhase => _phase;
    public string RequestId => _request.RequestId;
    public Endpoint? Target => _target;
    public Usage Usage => _usage;

    /// <summary>Outcome of one message: keep going, or end the gRPC call (OK after an ImmediateResponse, or an error status).</summary>
    public enum Outcome { Continue, EndOk, ProtocolError, AwaitAdmission }

    /// <summary>Handles one message. On <see cref="Outcome.ProtocolError"/>, <paramref name="error"/> says why.</summary>
    public Outcome Handle(ProcessingRequest message, List<ProcessingResponse> outbox, out string? error)
    {
        error = null;
        switch (message.RequestCase)
        {
            case ProcessingRequest.RequestOneofCase.RequestHeaders:
                if (_phase != Phase.AwaitingRequestHeaders)
                    return Protocol("request_headers received twice", out error);
                return OnRequestHeaders(message.RequestHeaders, outbox);

            case ProcessingRequest.RequestOneofCase.RequestBody:
                if (_phase != Phase.ReceivingRequestBody)
                    return Protocol(_phase == Phase.AwaitingRequestHeaders
                        ? "request_body received before request_headers"
                        : "request_body received after the request body ended", out error);
                return OnRequestBody(message, outbox);

            case ProcessingRequest.RequestOneofCase.RequestTrailers:
                return OnRequestTrailers(message, outbox, out error);

            case ProcessingRequest.RequestOneofCase.ResponseHeaders:
                if (_phase != Phase.RequestComplete)
                    return Protocol("response_headers received before the request phase completed", out error);
                OnResponseHeaders(message.ResponseHeaders, outbox);
                return Outcome.Continue;

            case ProcessingRequest.RequestOneofCase.ResponseBody:
                if (_phase != Phase.ResponseHeadersDone)
                    return Protocol(_phase == Phase.ResponseComplete
                        ? "response_body received after the response body ended"
                        : "response_body received before response_headers", out error);
                OnResponseBody(message.ResponseBody, outbox);
                return Outcome.Continue;

            case ProcessingRequest.RequestOneofCase.ResponseTrailers:
                if (_phase is not (Phase.ResponseHeadersDone or Phase.ResponseComplete))
                    return Protocol("response_trailers received before response_headers", out error);
                if (!_responseComplete)
                    FinishResponse(outbox, lastEndOfStream: false);
                outbox.Add(ResponseBuilder.ResponseTrailers());
                _phase = Phase.Done;
                return Outcome.Continue;

            default:
                return Protocol("empty ProcessingRequest (no request oneof set)", out error);
        }
    }

    private Outcome Protocol(string message, out string? error)
    {
        error = message;
        _runtime.Stats.ProtocolError();
        return Outcome.ProtocolError;
    }

    // §2.2
    private Outcome OnRequestHeaders(HttpHeaders headers, List<ProcessingResponse> outbox)
    {
        _runtime.Stats.Request();
        _receivedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        _span = _runtime.Tracing?.StartRequest();
        string? requestId = null;
        foreach (var h in headers.Headers?.Headers ?? (IEnumerable<HeaderValue>)[])
            if (string.Equals(h.Key, "x-request-id", StringComparison.OrdinalIgnoreCase))
            {
                requestId = ResponseBuilder.ReadValue(h);
                break;
            }
        bool generatedId = string.IsNullOrEmpty(requestId);
        if (generatedId)
            requestId = Guid.NewGuid().ToString();
        _request.RequestId = requestId!;

        if (headers.EndOfStream)
            return OnBodylessRequest(outbox, generatedId);

        foreach (var h in headers.Headers?.Headers ?? (IEnumerable<HeaderValue>)[])
        {
            _requestHeaders[h.Key] = h;
            _requestHeaderStrings[h.Key] = ResponseBuilder.ReadValue(h);
        }
        if (generatedId)
        {
            var idValue = new HeaderValue { Key = "x-request-id", RawValue = ByteString.CopyFromUtf8(requestId!) };
            _requestHeaders["x-request-id"] = idValue;
            _requestHeaderStrings["x-request-id"] = requestId!;
        }
        _request.FairnessId = _requestHeaderStrings.TryGetValue("x-gateway-inference-fairness-id", out var f) && f.Length > 0 ? f : "default-flow";
        _request.ObjectiveKey = _requestHeaderStrings.TryGetValue("x-gateway-inference-objective", out var o) ? o : "";
        _targetModel = _requestHeaderStrings.TryGetValue("x-gateway-model-name-rewrite", out var r) ? r : "";
        _request.Headers = _requestHeaderStrings;
        _phase = Phase.ReceivingRequestBody;
        return Outcome.Continue; // the headers reply is deferred until the body is complete (§2.2 step 5)
    }

    // §2.2 step 3: GET-like request — a uniformly random endpoint among all, no parsing, no scheduler.
    private Outcome OnBodylessRequest(List<ProcessingResponse> outbox, bool generatedId)
    {
        var snapshot = _runtime.Registry.Current;
        if (snapshot.Count == 0)
            return Fail(new InferenceError(InferenceError.Internal, "no pods available in datastore"), outbox);
        var endpoint = snapshot.Endpoints[Random.Shared.Next(snapshot.Count)];
        // The reference concatenates ip + ":" + port here without IPv6 brackets (spec §2.2, bug-compatible).
        string destination = endpoint.Address + ":" + endpoint.Port;
        var mutation = new HeaderMutation();
        mutation.SetHeaders.Add(ResponseBuilder.Header(ResponseBuilder.DestinationEndpointHeader, destination));
        if (generatedId)
            mutation.SetHeaders.Add(ResponseBuilder.Header("x-request-id", _request.RequestId));
        AddTraceParent(mutation);
        outbox.Add(ResponseBuilder.RequestHeaders(mutation, destination));
        Track(endpoint);
        _phase = Phase.RequestComplete;
        return Outcome.Continue;
    }

    // §2.3
    private Outcome OnRequestBody(ProcessingRequest message, List<ProcessingResponse> outbox)
    {
        var body = message.RequestBody;
        if (_body.Length + body.Body.Length > _runtime.MaxRequestBodyBytes)
            return Fail(new InferenceError(InferenceError.PayloadTooLarge,
                $"request body exceeds the limit of {_runtime.MaxRequestBodyBytes} bytes (--max-request-body-bytes)"), outbox);
        _body.Append(body.Body);
        if (!body.EndOfStream)
            return Outcome.Continue;
        return CompleteRequest(message.MetadataContext, outbox, lastEndOfStream: true);
    }

    // The reference never answers request trailers and the request hangs (spec §2.5). We treat
    // trailers as the end of the body, answer the body, then answer the trailers.
    private Outcome OnRequestTrailers(ProcessingRequest message, List<ProcessingResponse> outbox, out string? error)
    {
        error = null;
        if (_phase == Phase.AwaitingRequestHeaders)
            return Protocol("request_trailers received before request_headers", out error);
        if (_phase == Phase.ReceivingRequestBody)
        {
            var outcome = CompleteRequest(message.MetadataContext, outbox, lastEndOfStream: false);
            if (outcome == Outcome.AwaitAdmission)
                _pendingTrailers = true; // answered after the request phase, once dispatched
            if (outcome != Outcome.Continue)
                return outcome;
        }
        outbox.Add(ResponseBuilder.RequestTrailers());
        return Outcome.Continue;
    }

    private Outcome CompleteRequest(Metadata? metadata, List<ProcessingResponse> outbox, bool lastEndOfStream)
    {
        // The director's work (parse → rewrite → admission → schedule) is the orchestration span.
        using var orchestration = _span is null ? null : _runtime.Tracing!.StartOrchestration(_span);
        Outcome outcome = Orchestrate(metadata, outbox, lastEndOfStream);
        if (orchestration is not null)
        {
            orchestration.SetTag("target_model", _targetModel);
            orchestration.SetTag("request_prio", _request.Priority);
        }
        return outcome;
    }

    private Outcome Orchestrate(Metadata? metadata, List<ProcessingResponse> outbox, bool lastEndOfStream)
    {
        var received = _body.AsSequence();
        _request.RequestSize = received.Length;
        // Utf8JsonReader is several times slower over many segments than over one span, and 62,000-byte
        // pieces would straddle Envoy's chunks, so a body that arrived in chunks is copied once into a
        // contiguous pooled buffer that serves parsing, splicing and the outgoing pieces.
        var bodyBytes = received.IsSingleSegment ? received : Contiguous(received);
        _request.BodyBytes = bodyBytes;

        // Parse (§2.3 step 2, §4.1).
        _parsed.Reset();
        var api = ApiPaths.Detect(Header(":path"), Header("x-original-path"), Header("x-forwarded-path"));
        if (OpenAiRequestParser.Parse(bodyBytes, api, _parsed, out var parseError) != ParseStatus.Ok)
            return Fail(new InferenceError(InferenceError.BadRequest, parseError ?? "invalid request body"), outbox);
        _request.Body = _parsed;

        // Director step 1: model extraction and rewrite.
        if (!_parsed.HasModel)
            return Fail(new InferenceError(InferenceError.BadRequest, "model not found in request body"), outbox);
        _incomingModel = _parsed.Model;
        if (_targetModel.Length == 0)
            _targetModel = _incomingModel;
        var rule = _runtime.ModelRewrites().FindRule(_incomingModel);
        if (rule is not null && rule.Targets.Length > 0)
        {
            _targetModel = PickRewriteTarget(rule.Targets);
            _runtime.Metrics.ModelRewrite(rule.ObjectName, _incomingModel, _targetModel);
        }
        _request.TargetModel = _targetModel;

        // Step 2: priority from the InferenceObjective named by the objective header.
        _request.Priority = _request.ObjectiveKey.Length > 0 ? _runtime.PriorityLookup(_request.ObjectiveKey) ?? 0 : 0;

        // Step 5 with flow control: wait in the queue; the service resumes the stream once the request is dispatched.
        if (_runtime.FlowControl is { } flowControl)
        {
            _pendingMetadata = metadata;
            _pendingLastEndOfStream = lastEndOfStream;
            long slo = _requestHeaderStrings.TryGetValue("x-slo-ttft-ms", out var sloText)
                && long.TryParse(sloText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long ms) ? ms : -1;
            _ticket = flowControl.Enqueue(_request.FairnessId, _request.Priority, _request.RequestSize, _incomingModel, _targetModel, slo);
            return Outcome.AwaitAdmission;
        }
        return ScheduleAndRespond(metadata, outbox, lastEndOfStream);
    }

    /// <summary>The queued request's outcome (valid after <see cref="Outcome.AwaitAdmission"/>).</summary>
    public Task<Admission.AdmissionOutcome> Admission => _ticket?.Outcome ?? Task.FromResult(FastEpp.Admission.AdmissionOutcome.Dispatched);

    /// <summary>The client went away while queued.</summary>
    public void CancelAdmission() => _ticket?.Cancel();

    /// <summary>Continues the request phase after flow control decided (spec runtime.md §4.4 error mapping).</summary>
    public Outcome ResumeAfterAdmission(Admission.AdmissionOutcome outcome, List<ProcessingResponse> outbox)
    {
        _ticket = null;
        Outcome result = outcome switch
        {
            FastEpp.Admission.AdmissionOutcome.Dispatched => ScheduleAndRespond(_pendingMetadata, outbox, _pendingLastEndOfStream),
            FastEpp.Admission.AdmissionOutcome.RejectedCapacity => Fail(new InferenceError(InferenceError.ResourceExhausted,
                "request rejected pre-queue: queue at capacity"), outbox),
            FastEpp.Admission.AdmissionOutcome.EvictedTTL => Fail(new InferenceError(InferenceError.ServiceUnavailable,
                "request timed out in queue: request evicted from queue: request TTL expired"), outbox),
            FastEpp.Admission.AdmissionOutcome.EvictedContextCancelled => Fail(new InferenceError(InferenceError.ServiceUnavailable,
                "client disconnected: request evicted from queue: request context cancelled: context canceled"), outbox),
            _ => Fail(new InferenceError(InferenceError.Internal, "internal flow control error: request evicted from queue: flow controller is not running"), outbox),
        };
        _pendingMetadata = null;
        if (result == Outcome.Continue && _pendingTrailers)
            outbox.Add(ResponseBuilder.RequestTrailers());
        _pendingTrailers = false;
        return result;
    }

    private Outcome ScheduleAndRespond(Metadata? metadata, List<ProcessingResponse> outbox, bool lastEndOfStream)
    {
        // Steps 4–5: candidates (subset hint, §2.7) and legacy admission.
        var snapshot = _runtime.Registry.Current;
        int[] rented = ArrayPool<int>.Shared.Rent(Math.Max(1, snapshot.Count));
        try
        {
            int candidateCount = SelectCandidates(snapshot, metadata, rented);
            var candidates = rented.AsSpan(0, candidateCount);
            if (_request.Priority < 0 && _runtime.Saturation is { } saturation && saturation(snapshot, candidates) >= 1.0)
                return Fail(new InferenceError(InferenceError.ResourceExhausted, "system saturated, sheddable request dropped"), outbox);
            if (candidateCount == 0)
                return Fail(new InferenceError(InferenceError.ServiceUnavailable, "failed to find endpoint candidates for serving the request"), outbox);

            // Step 8: scheduler. The result span holds the primary and every fallback the pickers may return.
            int maxResults = Math.Max(1, _runtime.Scheduler.MaxResults);
            Span<int> chosen = maxResults <= 64 ? stackalloc int[64] : new int[maxResults];
            chosen = chosen[..maxResults];
            long scheduleStart = System.Diagnostics.Stopwatch.GetTimestamp();
            int n = _runtime.Scheduler.Schedule(_request, snapshot, candidates, chosen, out var scheduleError);
            _runtime.Metrics.SchedulerAttempt(System.Diagnostics.Stopwatch.GetElapsedTime(scheduleStart).TotalSeconds, _targetModel,
                n > 0 ? snapshot.Endpoints[chosen[0]] : null);
            if (n < 0)
                return Fail(new InferenceError(InferenceError.ResourceExhausted, "failed to find target endpoint: " + scheduleError), outbox);
            if (n == 0)
                return Fail(new InferenceError(InferenceError.Internal, "results must be greater than zero"), outbox);
            chosen = chosen[..n];
            string destination = JoinDestinations(snapshot, chosen);
            _runtime.Scheduler.PreRequest(_request, snapshot, chosen);
            Track(snapshot.Endpoints[chosen[0]]);

            // Step 10: the body goes back unchanged unless the model was rewritten; then only the value is spliced.
            // Pieces are sliced without copying: from the received chunk when the body came in one, else
            // from the contiguous parse copy (valid until Reset; the service writes the outbox first).
            ReadOnlySequence<byte> bodyBytes = _request.BodyBytes;
            ReadOnlySequence<byte> outgoing = bodyBytes;
            if (!string.Equals(_targetModel, _incomingModel, StringComparison.Ordinal))
            {
                var writer = new ArrayPoolBufferWriter<byte>((int)Math.Min(int.MaxValue, bodyBytes.Length + _targetModel.Length * 6 + 16));
                RequestBodyWriter.WriteWithModel(bodyBytes, _parsed, _targetModel, writer);
                outgoing = new ReadOnlySequence<byte>(writer.WrittenSpan.ToArray()); // rare path: one copy the message can own
                writer.Dispose();
            }

            var mutation = new HeaderMutation();
            mutation.SetHeaders.Add(ResponseBuilder.Header(ResponseBuilder.DestinationEndpointHeader, destination));
            if (outgoing.Length > 0)
                mutation.SetHeaders.Add(ResponseBuilder.Header("Content-Length", outgoing.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            AddTraceParent(mutation);
            AddEchoedHeaders(mutation, _requestHeaders);
            outbox.Add(ResponseBuilder.RequestHeaders(mutation, destination));
            ResponseBuilder.AddBodyPieces(outbox, outgoing, lastEndOfStream, request: true);
            _body.Clear(); // the pieces hold the received ByteStrings; the buffer now serves the response
            _responseStreaming = _parsed.Stream;
            _phase = Phase.RequestComplete;
            _runtime.Metrics.RequestScheduled(_incomingModel, _targetModel, _request.Priority, outgoing.Length);
            _runtime.Metrics.RunningChanged(_incomingModel, +1);
            _running = true;
            return Outcome.Continue;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    private byte[]? _contiguous;

    private ReadOnlySequence<byte> Contiguous(in ReadOnlySequence<byte> body)
    {
        int length = checked((int)body.Length);
        if (_contiguous is null || _contiguous.Length < length)
        {
            if (_contiguous is not null)
                ArrayPool<byte>.Shared.Return(_contiguous);
            _contiguous = ArrayPool<byte>.Shared.Rent(length);
        }
        body.CopyTo(_contiguous);
        return new ReadOnlySequence<byte>(_contiguous, 0, length);
    }

    private string? Header(string key) => _requestHeaderStrings.TryGetValue(key, out var v) ? v : null;

    /// <summary>Spec §2.7: all endpoints, or those whose IP is in the subset hint (port ignored).</summary>
    private int SelectCandidates(EndpointSnapshot snapshot, Metadata? metadata, int[] into)
    {
        var endpoints = snapshot.Endpoints;
        ListValue? subset = null;
        if (!_runtime.DisableEndpointSubsetFilter
            && metadata?.FilterMetadata is { } fm
            && fm.TryGetValue(SubsetNamespace, out var ns)
            && ns.Fields.TryGetValue(SubsetKey, out var value)
            && value.KindCase == Value.KindOneofCase.ListValue)
            subset = value.ListValue;
        if (subset is null)
        {
            for (int i = 0; i < endpoints.Length; i++)
                into[i] = i;
            return endpoints.Length;
        }
        var addresses = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in subset.Values)
        {
            if (entry.KindCase != Value.KindOneofCase.StringValue)
                continue;
            string s = entry.StringValue;
            int colon = s.LastIndexOf(':');
            string address = colon >= 0 ? s[..colon] : s;
            addresses.Add(address.Length > 1 && address[0] == '[' && address[^1] == ']' ? address[1..^1] : address);
        }
        int n = 0;
        for (int i = 0; i < endpoints.Length; i++)
            if (addresses.Contains(endpoints[i].Address))
                into[n++] = i;
        return n;
    }

    private static string JoinDestinations(EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        if (chosen.Length == 1)
            return snapshot.Endpoints[chosen[0]].HostPort;
        var parts = new string[chosen.Length];
        for (int i = 0; i < chosen.Length; i++)
            parts[i] = snapshot.Endpoints[chosen[i]].HostPort;
        return string.Join(',', parts);
    }

    private static string PickRewriteTarget(Kubernetes.ModelRewriteTarget[] targets)
    {
        long total = 0;
        foreach (var t in targets)
            total += Math.Max(0, t.Weight);
        if (total == 0)
            return targets[Random.Shared.Next(targets.Length)].Model;
        long pick = Random.Shared.NextInt64(total);
        foreach (var t in targets)
        {
            pick -= Math.Max(0, t.Weight);
            if (pick < 0)
                return t.Model;
        }
        return targets[^1].Model;
    }

    private void Track(Endpoint endpoint)
    {
        _target = endpoint;
        endpoint.State.IncrementInFlight();
        _runtime.Stats.Started();
        _counted = true;
    }

    /// <summary>Echoes every header whose lowercase key is not system-owned, reusing the received bytes (§2.4.1, §2.6).</summary>
    private static void AddEchoedHeaders(HeaderMutation mutation, Dictionary<string, HeaderValue> headers)
    {
        foreach (var (key, value) in headers)
            if (!s_systemOwned.Contains(key.ToLowerInvariant()))
                mutation.SetHeaders.Add(ResponseBuilder.Header(key, value.RawValue.Length > 0 ? value.RawValue : ByteString.CopyFromUtf8(value.Value)));
    }

    // §2.6
    private void OnResponseHeaders(HttpHeaders headers, List<ProcessingResponse> outbox)
    {
        foreach (var h in headers.Headers?.Headers ?? (IEnumerable<HeaderValue>)[])
        {
            // Streaming detection looks at raw_value only, exact lowercase key, case-sensitive substring.
            if (h.Key == "content-type" && UsageParser.IsEventStream(h.RawValue.Span))
                _responseStreaming = true;
            // The reference checks the key "status" (Envoy sends ":status"), so with Envoy this never fires.
            else if (h.Key == "status" && !h.RawValue.Span.SequenceEqual("200"u8))
                _errorCode = "ModelServerError";
            _responseHeaders[h.Key] = h;
        }
        var mutation = new HeaderMutation();
        mutation.SetHeaders.Add(ResponseBuilder.WentIntoResponseHeaders());
        AddEchoedHeaders(mutation, _responseHeaders);
        outbox.Add(ResponseBuilder.ResponseHeaders(mutation));
        _phase = Phase.ResponseHeadersDone;
    }

    // §2.8
    private void OnResponseBody(HttpBody body, List<ProcessingResponse> outbox)
    {
        _responseBytes += body.Body.Length;
        if (_responseStreaming)
        {
            if (body.EndOfStream)
                MarkResponseComplete();
            UsageParser.ParseSseChunk(body.Body.Span, ref _usage);
            if (body.EndOfStream)
                RecordResponseMetrics();
            var chunk = new ReadOnlySequence<byte>(RewriteResponse(body.Body).Memory);
            ResponseBuilder.AddBodyPieces(outbox, chunk, body.EndOfStream, request: false);
            if (body.EndOfStream)
                _phase = Phase.ResponseComplete;
            return;
        }
        _body.Append(body.Body);
        if (body.EndOfStream)
            FinishResponse(outbox, lastEndOfStream: true);
    }

    /// <summary>Buffered response: usage from the whole body, model rewrite, pieces out (§2.8 / §2.10).</summary>
    private void FinishResponse(List<ProcessingResponse> outbox, bool lastEndOfStream)
    {
        MarkResponseComplete();
        var whole = _body.AsSequence();
        if (!_responseStreaming)
            UsageParser.ParseJson(whole, ref _usage);
        RecordResponseMetrics();
        ReadOnlySequence<byte> outgoing = whole;
        if (NeedsResponseRewrite && !whole.IsEmpty)
        {
            var rewritten = RewriteResponse(ByteString.CopyFrom(whole.ToArray()));
            outgoing = new ReadOnlySequence<byte>(rewritten.Memory);
        }
        if (!(_responseStreaming && whole.IsEmpty && !lastEndOfStream))
            ResponseBuilder.AddBodyPieces(outbox, outgoing, lastEndOfStream, request: false);
        _body.Clear();
        _phase = Phase.ResponseComplete;
    }

    private bool NeedsResponseRewrite =>
        _targetModel.Length > 0 && _incomingModel.Length > 0 && !string.Equals(_targetModel, _incomingModel, StringComparison.Ordinal);

    // §2.9: put the client's model name back into the response.
    private ByteString RewriteResponse(ByteString chunk)
    {
        if (!NeedsResponseRewrite || chunk.Length == 0)
            return chunk;
        var writer = new ArrayBufferWriter<byte>(chunk.Length + 64);
        return ResponseModelRewriter.RewriteModelInResponse(chunk.Span, _targetModel, _incomingModel, writer)
            ? ByteString.CopyFrom(writer.WrittenSpan)
            : chunk;
    }

    private void MarkResponseComplete()
    {
        if (_responseComplete)
            return;
        _responseComplete = true;
        Release();
    }

    /// <summary>Ends the request's accounting (response complete, error, or stream gone). Idempotent.</summary>
    public void Release()
    {
        if (!_counted)
            return;
        _counted = false;
        _target?.State.DecrementInFlight();
        _runtime.Stats.Finished();
        _runtime.FlowControl?.Wake(); // a finished request may let a queued one through
        _runtime.Scheduler.ResponseComplete(_request, _target);
    }

    private Outcome Fail(InferenceError error, List<ProcessingResponse> outbox)
    {
        _runtime.Stats.Error();
        if (_errorCode.Length == 0)
            _errorCode = error.Code;
        LastError = error;
        outbox.Add(ResponseBuilder.Immediate(error));
        _body.Clear();
        return Outcome.EndOk;
    }

    public InferenceError? LastError { get; private set; }

    /// <summary>Spec §2.4.1 item 3: the stream's root span as a W3C traceparent (sampled or not).</summary>
    private void AddTraceParent(HeaderMutation mutation)
    {
        if (_span is not null)
            mutation.SetHeaders.Add(ResponseBuilder.Header("traceparent", Observability.EppTracing.TraceParent(_span)));
    }

    /// <summary>The response is complete and its usage parsed: latency, NTPOT, sizes and token counts.</summary>
    private void RecordResponseMetrics()
    {
        if (!_running)
            return;
        if (_usage.Present)
            _runtime.Metrics.UsageSeen(_incomingModel, _targetModel, _usage);
        _runtime.Metrics.ResponseComplete(_incomingModel, _targetModel,
            System.Diagnostics.Stopwatch.GetElapsedTime(_receivedAt).TotalSeconds, _responseBytes, _usage.CompletionTokens);
    }

    /// <summary>Once per stream, at its end: the error counter (first error, or a non-200 upstream) and the running gauge.</summary>
    private void EndMetrics()
    {
        if (_errorCode.Length > 0)
            _runtime.Metrics.RequestError(_incomingModel, _targetModel, _errorCode);
        if (_running)
            _runtime.Metrics.RunningChanged(_incomingModel, -1);
        _running = false;
        _errorCode = "";
        _span?.Dispose(); // ends gateway.request
        _span = null;
        _responseBytes = 0;
        _receivedAt = 0;
    }

    /// <summary>Returns the handler to its initial state so a pool can hand it to the next stream.</summary>
    public void Reset()
    {
        _ticket?.Cancel(); // the stream ended while queued
        _ticket = null;
        _pendingMetadata = null;
        _pendingTrailers = false;
        Release();
        EndMetrics();
        _body.Clear();
        _parsed.Reset();
        _request.Reset();
        _requestHeaders.Clear();
        _requestHeaderStrings.Clear();
        _responseHeaders.Clear();
        _phase = Phase.AwaitingRequestHeaders;
        _responseStreaming = false;
        _responseComplete = false;
        _incomingModel = "";
        _targetModel = "";
        _target = null;
        _usage = default;
        LastError = null;
        if (_contiguous is { Length: > 1 << 20 })
        {
            ArrayPool<byte>.Shared.Return(_contiguous); // keep only modest buffers parked in the pool
            _contiguous = null;
        }
    }
}
