using System.Buffers;
using System.Globalization;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Admission;
using FastEpp.Body;
using FastEpp.Requests;
using Google.Protobuf;

namespace FastEpp.ExtProc;

/// <summary>
/// The state machine of one ext_proc stream (= one HTTP request/response), spec extproc.md §2: which
/// message may come in which phase, and which replies go out, in order, into the outbox the service
/// writes. What to do with the request is the <see cref="RequestDirector"/>'s decision, what to do with the
/// response the <see cref="ResponseProcessor"/>'s; this class only turns their answers into messages.
/// Not thread-safe: one stream, one handler; pooled by <see cref="ExtProcService"/> with its parts.
/// </summary>
internal sealed class StreamHandler
{
    private readonly RequestServices _services;
    private readonly BodyBuffer _body = new();
    private readonly InferenceRequest _request;
    private readonly RequestDirector _director;
    private readonly ResponseProcessor _response;
    // Received headers by key (last wins), kept as HeaderValues so echoing reuses the received bytes.
    private readonly Dictionary<string, HeaderValue> _requestHeaders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HeaderValue> _responseHeaders = new(StringComparer.Ordinal);

    private Phase _phase = Phase.AwaitingRequestHeaders;
    // While queued by flow control: what the request phase's replies still need.
    private Metadata? _pendingMetadata;
    private bool _pendingLastEndOfStream, _pendingTrailers;

    public StreamHandler(RequestServices services)
    {
        _services = services;
        _request = new InferenceRequest(services);
        _director = new RequestDirector(services, _request);
        _response = new ResponseProcessor(services, _request);
    }

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

    public string RequestId => _request.Scheduling.RequestId;
    public Usage Usage => _response.Usage;
    public InferenceError? LastError => _request.LastError;

    /// <summary>Outcome of one message: keep going, end the gRPC call (OK after an ImmediateResponse, or an error status), or wait for admission.</summary>
    public enum Outcome { Continue, EndOk, ProtocolError, AwaitAdmission, AwaitPreparation }

    /// <summary>Handles one message. On <see cref="Outcome.ProtocolError"/>, <paramref name="error"/> says why.</summary>
    public Outcome Handle(ProcessingRequest message, List<ProcessingResponse> outbox, out string? error)
    {
        error = null;
        switch (message.RequestCase)
        {
            case ProcessingRequest.RequestOneofCase.RequestHeaders:
                if (_phase != Phase.AwaitingRequestHeaders)
                    return Protocol(_request.ResponseOnly ? "request_headers received after the response began" : "request_headers received twice", out error);
                return OnRequestHeaders(message.RequestHeaders, outbox);

            case ProcessingRequest.RequestOneofCase.RequestBody:
                if (_phase != Phase.ReceivingRequestBody)
                    return Protocol(_phase == Phase.AwaitingRequestHeaders
                        ? "request_body received before request_headers"
                        : _request.ResponseOnly ? "request_body received after the response began"
                        : "request_body received after the request body ended", out error);
                return OnRequestBody(message, outbox);

            case ProcessingRequest.RequestOneofCase.RequestTrailers:
                if (_request.ResponseOnly)
                    return Protocol("request_trailers received after the response began", out error);
                return OnRequestTrailers(message, outbox, out error);

            case ProcessingRequest.RequestOneofCase.ResponseHeaders:
                if (_phase == Phase.AwaitingRequestHeaders)
                    _request.BeginResponseOnly(); // the filter skips the request phase (processing mode): a response-only stream
                else if (_phase != Phase.RequestComplete)
                    return Protocol(_phase == Phase.ReceivingRequestBody
                        ? "response_headers received before the request phase completed"
                        : "response_headers received twice", out error);
                OnResponseHeaders(message.ResponseHeaders, message.MetadataContext, outbox);
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
                if (!_response.IsComplete)
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
        _services.Stats.ProtocolError();
        return Outcome.ProtocolError;
    }

    // §2.2
    private Outcome OnRequestHeaders(HttpHeaders headers, List<ProcessingResponse> outbox)
    {
        _request.Begin();
        string? requestId = null;
        foreach (var h in headers.Headers?.Headers ?? (IEnumerable<HeaderValue>)[])
            if (string.Equals(h.Key, HeaderNames.RequestId, StringComparison.OrdinalIgnoreCase))
            {
                requestId = ResponseBuilder.ReadValue(h);
                break;
            }
        bool generatedId = string.IsNullOrEmpty(requestId);
        if (generatedId)
            requestId = Guid.NewGuid().ToString();
        _request.Scheduling.RequestId = requestId!;

        if (headers.EndOfStream)
            return OnBodylessRequest(outbox, generatedId);

        foreach (var h in headers.Headers?.Headers ?? (IEnumerable<HeaderValue>)[])
        {
            _requestHeaders[h.Key] = h;
            _request.Headers[h.Key] = ResponseBuilder.ReadValue(h);
        }
        if (generatedId)
        {
            _requestHeaders[HeaderNames.RequestId] = new HeaderValue { Key = HeaderNames.RequestId, RawValue = ByteString.CopyFromUtf8(requestId!) };
            _request.Headers[HeaderNames.RequestId] = requestId!;
        }
        _request.AcceptHeaders();
        _phase = Phase.ReceivingRequestBody;
        return Outcome.Continue; // the headers reply is deferred until the body is complete (§2.2 step 5)
    }

    // §2.2 step 3: GET-like request.
    private Outcome OnBodylessRequest(List<ProcessingResponse> outbox, bool generatedId)
    {
        var decision = _director.RouteBodyless();
        if (decision.Verdict == RequestVerdict.Rejected)
            return Fail(decision.Error, outbox);
        var mutation = new HeaderMutation();
        mutation.SetHeaders.Add(ResponseBuilder.Header(HeaderNames.DestinationEndpoint, decision.Destination));
        if (generatedId)
            mutation.SetHeaders.Add(ResponseBuilder.Header(HeaderNames.RequestId, _request.Scheduling.RequestId));
        AddTraceParent(mutation);
        outbox.Add(ResponseBuilder.RequestHeaders(mutation, decision.Destination));
        _phase = Phase.RequestComplete;
        return Outcome.Continue;
    }

    // §2.3
    private Outcome OnRequestBody(ProcessingRequest message, List<ProcessingResponse> outbox)
    {
        var body = message.RequestBody;
        if (_body.Length + body.Body.Length > _services.MaxRequestBodyBytes)
            return Fail(InferenceErrors.BodyTooLarge(_services.MaxRequestBodyBytes), outbox);
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
            if (outcome is Outcome.AwaitAdmission or Outcome.AwaitPreparation)
                _pendingTrailers = true; // answered after the request phase, once dispatched
            if (outcome != Outcome.Continue)
                return outcome;
        }
        outbox.Add(ResponseBuilder.RequestTrailers());
        return Outcome.Continue;
    }

    private Outcome CompleteRequest(Metadata? metadata, List<ProcessingResponse> outbox, bool lastEndOfStream)
    {
        var decision = _director.Direct(_body.AsSequence(), metadata);
        if (decision.Verdict is RequestVerdict.Queued or RequestVerdict.Preparing)
        {
            _pendingMetadata = metadata;
            _pendingLastEndOfStream = lastEndOfStream;
            return decision.Verdict == RequestVerdict.Queued ? Outcome.AwaitAdmission : Outcome.AwaitPreparation;
        }
        return ApplyDecision(decision, outbox, lastEndOfStream);
    }

    /// <summary>The scheduler's pre-scheduling I/O (valid after <see cref="Outcome.AwaitPreparation"/>); never faults.</summary>
    public Task? Preparation => _director.Preparation;

    /// <summary>Continues the request phase once the scheduler's I/O step (<see cref="Preparation"/>) has finished.</summary>
    public Outcome ResumeAfterPreparation(List<ProcessingResponse> outbox) =>
        FinishPending(_director.ContinueAfterPreparation(_pendingMetadata), outbox);

    /// <summary>The queued request (valid after <see cref="Outcome.AwaitAdmission"/>).</summary>
    public FlowTicket? Ticket => _director.Ticket;

    /// <summary>Continues the request phase once flow control has decided (spec runtime.md §4.4).</summary>
    public Outcome ResumeAfterAdmission(AdmissionOutcome admitted, List<ProcessingResponse> outbox)
    {
        return FinishPending(_director.Resume(admitted, _pendingMetadata), outbox);
    }

    private Outcome FinishPending(in RequestDecision decision, List<ProcessingResponse> outbox)
    {
        if (decision.Verdict == RequestVerdict.Preparing)
            return Outcome.AwaitPreparation; // after a queue wait: the I/O step comes next, the pending state stays
        Outcome result = ApplyDecision(decision, outbox, _pendingLastEndOfStream);
        _pendingMetadata = null;
        if (result == Outcome.Continue && _pendingTrailers)
            outbox.Add(ResponseBuilder.RequestTrailers());
        _pendingTrailers = false;
        return result;
    }

    /// <summary>§2.4: the headers reply (destination, Content-Length, traceparent, echoes) and the body pieces.</summary>
    private Outcome ApplyDecision(in RequestDecision decision, List<ProcessingResponse> outbox, bool lastEndOfStream)
    {
        if (decision.Verdict == RequestVerdict.Rejected)
            return Fail(decision.Error, outbox);
        ReadOnlySequence<byte> outgoing = decision.Body;
        var mutation = new HeaderMutation();
        mutation.SetHeaders.Add(ResponseBuilder.Header(HeaderNames.DestinationEndpoint, decision.Destination));
        if (outgoing.Length > 0)
            mutation.SetHeaders.Add(ResponseBuilder.Header(HeaderNames.ContentLengthReply, outgoing.Length.ToString(CultureInfo.InvariantCulture)));
        AddTraceParent(mutation);
        ResponseBuilder.AddEchoedHeaders(mutation, _requestHeaders);
        outbox.Add(ResponseBuilder.RequestHeaders(mutation, decision.Destination));
        ResponseBuilder.AddBodyPieces(outbox, outgoing, lastEndOfStream, request: true);
        _body.Clear(); // the pieces hold the received ByteStrings; the buffer now serves the response
        _phase = Phase.RequestComplete;
        return Outcome.Continue;
    }

    // §2.6
    private void OnResponseHeaders(HttpHeaders headers, Metadata? metadata, List<ProcessingResponse> outbox)
    {
        foreach (var h in headers.Headers?.Headers ?? (IEnumerable<HeaderValue>)[])
        {
            _response.InspectHeader(h.Key, h.RawValue.Span);
            _responseHeaders[h.Key] = h;
        }
        // ResponseHeader plugins may add response headers (the conformance verifier's echo).
        var plugins = _services.ResponseHeadersPlugins;
        if (plugins.Length > 0)
        {
            var added = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var plugin in plugins)
                plugin.ResponseReceived(metadata, added);
            foreach (var (key, value) in added)
                _responseHeaders[key] = new HeaderValue { Key = key, RawValue = ByteString.CopyFromUtf8(value) };
        }
        var mutation = new HeaderMutation();
        mutation.SetHeaders.Add(ResponseBuilder.WentIntoResponseHeaders());
        ResponseBuilder.AddEchoedHeaders(mutation, _responseHeaders);
        outbox.Add(ResponseBuilder.ResponseHeaders(mutation));
        _phase = Phase.ResponseHeadersDone;
    }

    // §2.8: SSE chunks go straight through; anything else is buffered to its end.
    private void OnResponseBody(HttpBody body, List<ProcessingResponse> outbox)
    {
        _response.Received(body.Body.Length);
        if (_response.IsStreaming)
        {
            var chunk = _response.StreamedChunk(body.Body, body.EndOfStream);
            ResponseBuilder.AddBodyPieces(outbox, new ReadOnlySequence<byte>(chunk.Memory), body.EndOfStream, request: false);
            if (body.EndOfStream)
            {
                AttachCompletionMetadata(outbox);
                _phase = Phase.ResponseComplete;
            }
            return;
        }
        _body.Append(body.Body);
        if (body.EndOfStream)
            FinishResponse(outbox, lastEndOfStream: true);
    }

    private void FinishResponse(List<ProcessingResponse> outbox, bool lastEndOfStream)
    {
        var whole = _body.AsSequence();
        var outgoing = _response.Complete(whole);
        // A streamed response ended by trailers has nothing left to send.
        if (!(_response.IsStreaming && whole.IsEmpty && !lastEndOfStream))
        {
            ResponseBuilder.AddBodyPieces(outbox, outgoing, lastEndOfStream, request: false);
            AttachCompletionMetadata(outbox);
        }
        _body.Clear();
        _phase = Phase.ResponseComplete;
    }

    /// <summary>§2.8: the response's dynamic metadata (request-attribute-reporter) rides on the last body piece.</summary>
    private void AttachCompletionMetadata(List<ProcessingResponse> outbox)
    {
        if (_response.CompletionMetadata is { } metadata && outbox.Count > 0 && outbox[^1].ResponseCase == ProcessingResponse.ResponseOneofCase.ResponseBody)
            outbox[^1].DynamicMetadata = metadata;
    }

    private Outcome Fail(InferenceError error, List<ProcessingResponse> outbox)
    {
        _request.Failed(error);
        outbox.Add(ResponseBuilder.Immediate(error));
        _body.Clear();
        return Outcome.EndOk;
    }

    /// <summary>Spec §2.4.1 item 3: the stream's root span as a W3C traceparent (sampled or not).</summary>
    private void AddTraceParent(HeaderMutation mutation)
    {
        if (_request.Span is { } span)
            mutation.SetHeaders.Add(ResponseBuilder.Header(HeaderNames.TraceParent, Observability.EppTracing.TraceParent(span)));
    }

    /// <summary>Returns the handler to its initial state so a pool can hand it to the next stream.</summary>
    public void Reset()
    {
        _director.Reset(); // leaves the queue if the stream ended while queued
        _pendingMetadata = null;
        _pendingTrailers = false;
        _request.End();
        _response.Reset();
        _body.Clear();
        _requestHeaders.Clear();
        _responseHeaders.Clear();
        _phase = Phase.AwaitingRequestHeaders;
    }
}
