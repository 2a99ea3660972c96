using System.Buffers;
using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Http.Features;

namespace FastEpp.Gateway;

/// <summary>
/// The InferencePool path of the gateway: one ext_proc stream per HTTP request, exactly as Envoy drives it
/// with request/response header mode SEND, body mode FULL_DUPLEX_STREAMED and trailer mode SEND
/// (../../shared/spec/extproc.md §2): request headers, body chunks as they are read from the client, the
/// deferred header response (set_headers + x-gateway-destination-endpoint), the mutated body streamed upstream,
/// then response headers, each response body chunk and the response trailers, relaying the EPP's chunks to the
/// client as they arrive.
/// </summary>
internal sealed partial class EppRouter : IDisposable
{
    private const string DestinationHeader = "x-gateway-destination-endpoint";
    private const string DestinationServed = "x-gateway-destination-endpoint-served";
    private const string LbNamespace = "envoy.lb";

    private readonly GrpcChannel _channel;
    private readonly ExternalProcessor.ExternalProcessorClient _client;
    private readonly UpstreamClient _upstream;
    private readonly Func<string> _failOpenPicker;
    private readonly GatewayOptions _options;
    private readonly GatewayStats _stats;
    private readonly ILogger _logger;

    public EppRouter(GatewayOptions options, UpstreamClient upstream, Func<string> failOpenPicker, GatewayStats stats, ILogger logger)
    {
        _options = options;
        _upstream = upstream;
        _failOpenPicker = failOpenPicker;
        _stats = stats;
        _logger = logger;
        // One channel for every stream, h2c with prior knowledge; several HTTP/2 connections so that >100
        // concurrent streams do not queue behind SETTINGS_MAX_CONCURRENT_STREAMS.
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            UseProxy = false,
        };
        _channel = GrpcChannel.ForAddress("http://" + options.Epp, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = null,
            MaxSendMessageSize = null,
        });
        _client = new ExternalProcessor.ExternalProcessorClient(_channel);
    }

    /// <summary>Serves one request through the EPP.</summary>
    public async Task HandleAsync(HttpContext ctx)
    {
        HttpRequest req = ctx.Request;
        CancellationToken ct = ctx.RequestAborted;
        bool hasBody = ctx.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? (req.ContentLength > 0);
        if (req.ContentLength == 0)
            hasBody = false;
        int chunkBytes = _options.ChunkBytes;
        using var body = new GrowBuffer(hasBody ? (int)Math.Min(req.ContentLength ?? chunkBytes, 64 << 20) : 0);

        if (!req.Headers.ContainsKey("x-request-id"))
            req.Headers["x-request-id"] = Guid.NewGuid().ToString(); // Envoy generates one when the client has none

        AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse>? call = null;
        bool eppOk = true;
        try
        {
            call = _client.Process(cancellationToken: ct);
            await call.RequestStream.WriteAsync(BuildRequestHeaders(req, endOfStream: !hasBody), ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or IOException or InvalidOperationException)
        {
            eppOk = false;
        }

        // Request body: each client read becomes one request_body message (Envoy forwards what each read gave).
        if (hasBody)
        {
            long? expected = req.ContentLength;
            int sent = 0;
            while (true)
            {
                Memory<byte> mem = body.GetMemory(chunkBytes);
                int n = await req.Body.ReadAsync(mem, ct).ConfigureAwait(false);
                body.Advance(n);
                bool last = n == 0 || (expected is long e && body.Length >= e);
                if (eppOk && (n > 0 || last))
                {
                    try
                    {
                        var msg = new ProcessingRequest
                        {
                            RequestBody = new HttpBody
                            {
                                Body = UnsafeByteOperations.UnsafeWrap(body.Slice(sent, body.Length - sent)),
                                EndOfStream = last,
                            },
                        };
                        await call!.RequestStream.WriteAsync(msg, ct).ConfigureAwait(false);
                        sent = body.Length;
                    }
                    catch (Exception ex) when (ex is RpcException or IOException or InvalidOperationException)
                    {
                        // The EPP may have answered early (ImmediateResponse) and closed; read below decides.
                        eppOk = false;
                    }
                }
                if (last)
                    break;
            }
        }

        // The deferred request-headers response (or an ImmediateResponse).
        ProcessingResponse? first = null;
        if (call is not null)
        {
            try
            {
                if (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
                    first = call.ResponseStream.Current;
            }
            catch (RpcException) when (!ct.IsCancellationRequested)
            {
            }
            catch (IOException) when (!ct.IsCancellationRequested)
            {
            }
        }

        if (first?.ResponseCase == ProcessingResponse.ResponseOneofCase.ImmediateResponse)
        {
            call!.Dispose();
            await WriteImmediateAsync(ctx, first.ImmediateResponse).ConfigureAwait(false);
            return;
        }
        if (first?.ResponseCase != ProcessingResponse.ResponseOneofCase.RequestHeaders)
        {
            call?.Dispose();
            _stats.OnEppError();
            if (!ct.IsCancellationRequested)
                await HandleEppFailureAsync(ctx, body, hasBody).ConfigureAwait(false);
            return;
        }

        using (call)
        {
            await RouteAsync(ctx, call!, first.RequestHeaders.Response, first.DynamicMetadata, hasBody).ConfigureAwait(false);
        }
    }

    private async Task RouteAsync(HttpContext ctx, AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> call,
        CommonResponse? headersResponse, Struct? dynamicMetadata, bool hasBody)
    {
        CancellationToken ct = ctx.RequestAborted;
        string? destination = null;
        RepeatedField<HeaderValueOption>? setHeaders = headersResponse?.HeaderMutation?.SetHeaders;
        if (setHeaders is not null)
        {
            for (int i = 0; i < setHeaders.Count; i++)
            {
                HeaderValue? h = setHeaders[i].Header;
                if (h is not null && h.Key.Equals(DestinationHeader, StringComparison.OrdinalIgnoreCase))
                    destination = ValueOf(h);
            }
        }
        if (string.IsNullOrEmpty(destination) && dynamicMetadata is not null &&
            dynamicMetadata.Fields.TryGetValue(LbNamespace, out Value? lb) && lb.StructValue is { } lbs &&
            lbs.Fields.TryGetValue(DestinationHeader, out Value? dv) && dv.KindCase == Value.KindOneofCase.StringValue)
        {
            destination = dv.StringValue;
        }
        if (string.IsNullOrEmpty(destination))
        {
            _stats.OnNoDestination();
            await WriteErrorAsync(ctx, 503, "no healthy upstream: EPP did not pick an endpoint").ConfigureAwait(false);
            return;
        }

        // Upstream: the destination list, primary first; the next one only after a connect failure.
        EppBodyContent? content = hasBody ? new EppBodyContent(call.ResponseStream, ct) : null;
        HttpResponseMessage? response = null;
        string endpoint = "";
        int start = 0;
        while (start <= destination.Length)
        {
            int comma = destination.IndexOf(',', start);
            int end = comma < 0 ? destination.Length : comma;
            endpoint = destination.AsSpan(start, end - start).Trim().ToString();
            start = end + 1;
            if (endpoint.Length == 0)
                continue;
            HttpRequestMessage request = UpstreamClient.CreateRequest(ctx.Request, endpoint, content);
            if (setHeaders is not null)
            {
                for (int i = 0; i < setHeaders.Count; i++)
                {
                    HeaderValue? h = setHeaders[i].Header;
                    if (h is not null)
                        UpstreamClient.SetHeader(request, h.Key, ValueOf(h));
                }
            }
            (UpstreamOutcome outcome, HttpResponseMessage? r) = await _upstream.SendAsync(request, ct).ConfigureAwait(false);
            if (outcome == UpstreamOutcome.Ok)
            {
                response = r;
                break;
            }
            if (outcome == UpstreamOutcome.ConnectFailed && content is not { Started: true } && comma >= 0)
            {
                _stats.OnFallback();
                continue;
            }
            break;
        }
        if (response is null)
        {
            _stats.OnUpstreamError();
            if (!ct.IsCancellationRequested)
                await WriteErrorAsync(ctx, 503, "upstream connect error or disconnect/reset before headers").ConfigureAwait(false);
            return;
        }
        _stats.OnUpstream(endpoint);

        using (response)
        {
            await ResponsePhaseAsync(ctx, call, response, endpoint).ConfigureAwait(false);
        }
    }

    private async Task ResponsePhaseAsync(HttpContext ctx, AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> call,
        HttpResponseMessage response, string endpoint)
    {
        CancellationToken ct = ctx.RequestAborted;
        HttpResponse res = ctx.Response;
        try
        {
            await call.RequestStream.WriteAsync(BuildResponseHeaders(response, endpoint), ct).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
                throw new IOException("ext_proc stream ended before the response headers reply");
            ProcessingResponse rh = call.ResponseStream.Current;
            if (rh.ResponseCase == ProcessingResponse.ResponseOneofCase.ImmediateResponse)
            {
                await WriteImmediateAsync(ctx, rh.ImmediateResponse).ConfigureAwait(false);
                return;
            }
            if (rh.ResponseCase != ProcessingResponse.ResponseOneofCase.ResponseHeaders)
                throw new IOException("unexpected ext_proc message instead of the response headers reply: " + rh.ResponseCase);

            UpstreamClient.CopyResponseHead(response, res, keepContentLength: false);
            RepeatedField<HeaderValueOption>? set = rh.ResponseHeaders.Response?.HeaderMutation?.SetHeaders;
            if (set is not null)
            {
                for (int i = 0; i < set.Count; i++)
                {
                    if (set[i].Header is { } h)
                        ApplyResponseHeader(res, h.Key, ValueOf(h));
                }
            }
            _stats.OnStatus(res.StatusCode);
            ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

            using var pumpCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task pump = PumpResponseBodyAsync(response, call, _options.ChunkBytes, pumpCts.Token);
            try
            {
                await RelayResponseBodyAsync(ctx, call, pumpCts.Token).ConfigureAwait(false);
            }
            finally
            {
                if (!pump.IsCompleted)
                    pumpCts.Cancel();
                try
                {
                    await pump.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or RpcException or IOException or HttpRequestException or InvalidOperationException)
                {
                }
            }
        }
        catch (Exception ex) when (!ct.IsCancellationRequested &&
            ex is RpcException or IOException or HttpRequestException or InvalidOperationException or OperationCanceledException)
        {
            _stats.OnEppError();
            Log.ResponsePhaseFailed(_logger, ex.Message);
            if (!res.HasStarted)
                await WriteErrorAsync(ctx, 502, "ext_proc failed in the response phase").ConfigureAwait(false);
            else
                ctx.Abort();
        }
    }

    /// <summary>Upstream body → response_body messages (then the empty end-of-stream chunk and the trailers).</summary>
    private static async Task PumpResponseBodyAsync(HttpResponseMessage response,
        AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> call, int chunkBytes, CancellationToken ct)
    {
        Stream source = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(chunkBytes);
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer.AsMemory(0, chunkBytes), ct).ConfigureAwait(false)) > 0)
            {
                // UnsafeWrap: the message is serialized before WriteAsync completes, before the buffer is reused.
                var msg = new ProcessingRequest
                {
                    ResponseBody = new HttpBody { Body = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, n)) },
                };
                await call.RequestStream.WriteAsync(msg, ct).ConfigureAwait(false);
            }
            await call.RequestStream.WriteAsync(new ProcessingRequest { ResponseBody = new HttpBody { EndOfStream = true } }, ct).ConfigureAwait(false);
            await call.RequestStream.WriteAsync(new ProcessingRequest { ResponseTrailers = new HttpTrailers { Trailers = new HeaderMap() } }, ct).ConfigureAwait(false);
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }
        catch
        {
            call.Dispose(); // unblocks the relay (its MoveNext fails) when the upstream or the EPP breaks
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The EPP's response_body chunks → client, written and flushed one by one (SSE keeps streaming).</summary>
    private static async Task RelayResponseBodyAsync(HttpContext ctx, AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> call, CancellationToken ct)
    {
        Stream clientBody = ctx.Response.Body;
        bool bodyDone = false;
        while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
        {
            ProcessingResponse r = call.ResponseStream.Current;
            switch (r.ResponseCase)
            {
                case ProcessingResponse.ResponseOneofCase.ResponseBody:
                    StreamedBodyResponse? chunk = r.ResponseBody.Response?.BodyMutation?.StreamedResponse;
                    if (chunk is null)
                        throw new IOException("response_body reply without a streamed body mutation");
                    if (!chunk.Body.IsEmpty)
                    {
                        await clientBody.WriteAsync(chunk.Body.Memory, ct).ConfigureAwait(false);
                        await clientBody.FlushAsync(ct).ConfigureAwait(false);
                    }
                    if (chunk.EndOfStream && !bodyDone)
                    {
                        bodyDone = true;
                        await ctx.Response.CompleteAsync().ConfigureAwait(false); // the client is done; drain the stream
                    }
                    break;
                case ProcessingResponse.ResponseOneofCase.ResponseTrailers:
                    if (!bodyDone)
                        await ctx.Response.CompleteAsync().ConfigureAwait(false);
                    // The EPP ends the stream once it reads our half-close; wait for its OK status.
                    while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
                    {
                    }
                    return;
                case ProcessingResponse.ResponseOneofCase.ImmediateResponse:
                    throw new IOException("ImmediateResponse after the response started");
                default:
                    throw new IOException("unexpected ext_proc message in the response body phase: " + r.ResponseCase);
            }
        }
        if (!bodyDone)
            throw new IOException("ext_proc stream ended before the response body was complete");
    }

    private async Task HandleEppFailureAsync(HttpContext ctx, GrowBuffer body, bool hasBody)
    {
        if (_options.FailureMode == FailureMode.Closed)
        {
            _stats.OnFailClosed();
            await WriteErrorAsync(ctx, 503, "ext_proc unavailable (failure mode closed)").ConfigureAwait(false);
            return;
        }
        _stats.OnFailOpen();
        string endpoint = _failOpenPicker();
        HttpContent? content = hasBody ? new ReadOnlyMemoryContent(body.Written) : null;
        HttpRequestMessage request = UpstreamClient.CreateRequest(ctx.Request, endpoint, content);
        (UpstreamOutcome outcome, HttpResponseMessage? response) = await _upstream.SendAsync(request, ctx.RequestAborted).ConfigureAwait(false);
        if (outcome != UpstreamOutcome.Ok || response is null)
        {
            _stats.OnUpstreamError();
            await WriteErrorAsync(ctx, 503, "upstream connect error or disconnect/reset before headers").ConfigureAwait(false);
            return;
        }
        _stats.OnUpstream(endpoint);
        using (response)
        {
            UpstreamClient.CopyResponseHead(response, ctx.Response, keepContentLength: true);
            _stats.OnStatus(ctx.Response.StatusCode);
            await UpstreamClient.CopyBodyAsync(response, ctx, _options.ChunkBytes, ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    private async Task WriteImmediateAsync(HttpContext ctx, ImmediateResponse ir)
    {
        _stats.OnImmediateResponse();
        int status = ir.Status is null ? 0 : (int)ir.Status.Code;
        if (status < 200 || status > 599)
            status = 500;
        HttpResponse res = ctx.Response;
        res.StatusCode = status;
        RepeatedField<HeaderValueOption>? set = ir.Headers?.SetHeaders;
        if (set is not null)
        {
            for (int i = 0; i < set.Count; i++)
            {
                if (set[i].Header is { } h)
                    ApplyResponseHeader(res, h.Key, ValueOf(h));
            }
        }
        _stats.OnStatus(status);
        if (!ir.Body.IsEmpty)
        {
            if (!res.Headers.ContainsKey("content-type"))
                res.ContentType = "text/plain";
            res.ContentLength = ir.Body.Length;
            await res.Body.WriteAsync(ir.Body.Memory, ctx.RequestAborted).ConfigureAwait(false);
        }
    }

    private Task WriteErrorAsync(HttpContext ctx, int status, string message)
    {
        _stats.OnStatus(status);
        if (ctx.Response.HasStarted)
        {
            ctx.Abort();
            return Task.CompletedTask;
        }
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain";
        return ctx.Response.WriteAsync(message, ctx.RequestAborted);
    }

    private static void ApplyResponseHeader(HttpResponse res, string key, string value)
    {
        if (key == ":status")
        {
            if (int.TryParse(value, out int code) && code is >= 100 and <= 599)
                res.StatusCode = code;
            return;
        }
        if (key.Length == 0 || key[0] == ':' || UpstreamClient.IsHopByHop(key) ||
            key.Equals("content-length", StringComparison.OrdinalIgnoreCase))
            return; // body may be rewritten by the EPP: framing stays with the proxy
        res.Headers[key] = value;
    }

    private static ProcessingRequest BuildRequestHeaders(HttpRequest req, bool endOfStream)
    {
        var map = new HeaderMap();
        RepeatedField<HeaderValue> list = map.Headers;
        list.Add(Header(":authority", req.Host.Value ?? ""));
        list.Add(Header(":path", string.Concat(req.PathBase.Value, req.Path.Value, req.QueryString.Value)));
        list.Add(Header(":method", req.Method));
        list.Add(Header(":scheme", req.Scheme));
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> h in req.Headers)
        {
            if (h.Key.Equals("Host", StringComparison.OrdinalIgnoreCase))
                continue;
            string key = h.Key.ToLowerInvariant(); // Envoy delivers lowercase keys
            for (int i = 0; i < h.Value.Count; i++)
                list.Add(Header(key, h.Value[i] ?? ""));
        }
        return new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = map, EndOfStream = endOfStream } };
    }

    private static ProcessingRequest BuildResponseHeaders(HttpResponseMessage response, string endpoint)
    {
        var map = new HeaderMap();
        RepeatedField<HeaderValue> list = map.Headers;
        list.Add(Header(":status", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        foreach (KeyValuePair<string, IEnumerable<string>> h in response.Headers)
            AddAll(list, h.Key, h.Value);
        foreach (KeyValuePair<string, IEnumerable<string>> h in response.Content.Headers)
            AddAll(list, h.Key, h.Value);
        // Envoy reports the endpoint it actually used as LB metadata (extproc.md §2.7).
        var lb = new Struct();
        lb.Fields[DestinationServed] = Value.ForString(endpoint);
        var metadata = new Envoy.Config.Core.V3.Metadata();
        metadata.FilterMetadata[LbNamespace] = lb;
        return new ProcessingRequest
        {
            ResponseHeaders = new HttpHeaders { Headers = map },
            MetadataContext = metadata,
        };
    }

    private static void AddAll(RepeatedField<HeaderValue> list, string name, IEnumerable<string> values)
    {
        if (UpstreamClient.IsHopByHop(name))
            return;
        string key = name.ToLowerInvariant();
        foreach (string v in values)
            list.Add(Header(key, v));
    }

    private static HeaderValue Header(string key, string value) =>
        new() { Key = key, RawValue = ByteString.CopyFromUtf8(value) };

    /// <summary>raw_value when non-empty, else value (extproc.md §1.3).</summary>
    private static string ValueOf(HeaderValue h) => h.RawValue.IsEmpty ? h.Value : Encoding.UTF8.GetString(h.RawValue.Span);

    public void Dispose() => _channel.Dispose();

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "ext_proc response phase failed: {Message}")]
        public static partial void ResponsePhaseFailed(ILogger logger, string message);
    }
}
