using System.Buffers;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.ExtProcClient;
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
    private readonly GrpcChannel[] _channels;
    private readonly ExternalProcessor.ExternalProcessorClient[] _clients;
    private readonly string[] _addresses;
    private long _next = -1;
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
        // One channel per EPP address for every stream, h2c with prior knowledge; several HTTP/2 connections so that
        // >100 concurrent streams do not queue behind SETTINGS_MAX_CONCURRENT_STREAMS.
        _addresses = options.Epps.ToArray();
        _channels = new GrpcChannel[_addresses.Length];
        _clients = new ExternalProcessor.ExternalProcessorClient[_addresses.Length];
        for (int i = 0; i < _addresses.Length; i++)
        {
            var handler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                ConnectTimeout = TimeSpan.FromSeconds(2),
                KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
                UseProxy = false,
            };
            _channels[i] = ExtProcChannel.Create(_addresses[i], handler);
            _clients[i] = new ExternalProcessor.ExternalProcessorClient(_channels[i]);
        }
    }

    /// <summary>The EPP of the next request: round robin over the addresses (Envoy spreading ext_proc streams over the EPP pods).</summary>
    private ExternalProcessor.ExternalProcessorClient NextClient()
    {
        if (_clients.Length == 1)
        {
            _stats.OnEpp(_addresses[0]);
            return _clients[0];
        }
        int i = (int)((ulong)Interlocked.Increment(ref _next) % (ulong)_clients.Length);
        _stats.OnEpp(_addresses[i]);
        return _clients[i];
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

        ExtProcStream? call = null;
        bool eppOk = true;
        try
        {
            call = ExtProcStream.Open(NextClient(), ct);
            await call.SendRequestHeadersAsync(BuildRequestHeaders(req), endOfStream: !hasBody, ct).ConfigureAwait(false);
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
                        ProcessingRequest msg = EnvoyMessages.RequestBody(
                            UnsafeByteOperations.UnsafeWrap(body.Slice(sent, body.Length - sent)), last);
                        await call!.SendAsync(msg, ct).ConfigureAwait(false);
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
                first = await call.ReadAsync(ct).ConfigureAwait(false);
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

    private async Task RouteAsync(HttpContext ctx, ExtProcStream call,
        CommonResponse? headersResponse, Struct? dynamicMetadata, bool hasBody)
    {
        CancellationToken ct = ctx.RequestAborted;
        RepeatedField<HeaderValueOption>? setHeaders = headersResponse?.HeaderMutation?.SetHeaders;
        string? destination = EnvoyReplies.Destination(headersResponse, dynamicMetadata);
        if (destination is null)
        {
            _stats.OnNoDestination();
            await WriteErrorAsync(ctx, 503, "no healthy upstream: EPP did not pick an endpoint").ConfigureAwait(false);
            return;
        }

        // Upstream: the destination list, primary first; the next one only after a connect failure.
        EppBodyContent? content = hasBody ? new EppBodyContent(call, ct) : null;
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
                        UpstreamClient.SetHeader(request, h.Key, EnvoyReplies.ValueOf(h));
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

    private async Task ResponsePhaseAsync(HttpContext ctx, ExtProcStream call,
        HttpResponseMessage response, string endpoint)
    {
        CancellationToken ct = ctx.RequestAborted;
        HttpResponse res = ctx.Response;
        try
        {
            await call.SendAsync(EnvoyMessages.ResponseHeaders(BuildResponseHeaders(response), EnvoyMessages.DestinationServed(endpoint)), ct).ConfigureAwait(false);
            ProcessingResponse rh = await call.ReadAsync(ct).ConfigureAwait(false)
                ?? throw new IOException("ext_proc stream ended before the response headers reply");
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
                        ApplyResponseHeader(res, h.Key, EnvoyReplies.ValueOf(h));
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
    private static async Task PumpResponseBodyAsync(HttpResponseMessage response, ExtProcStream call, int chunkBytes, CancellationToken ct)
    {
        Stream source = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(chunkBytes);
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer.AsMemory(0, chunkBytes), ct).ConfigureAwait(false)) > 0)
            {
                // UnsafeWrap: the message is serialized before WriteAsync completes, before the buffer is reused.
                ProcessingRequest msg = EnvoyMessages.ResponseBody(UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, n)), endOfStream: false);
                await call.SendAsync(msg, ct).ConfigureAwait(false);
            }
            await call.SendAsync(EnvoyMessages.ResponseBody(ByteString.Empty, endOfStream: true), ct).ConfigureAwait(false);
            await call.SendAsync(EnvoyMessages.ResponseTrailers(), ct).ConfigureAwait(false);
            await call.CompleteAsync().ConfigureAwait(false);
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
    private static async Task RelayResponseBodyAsync(HttpContext ctx, ExtProcStream call, CancellationToken ct)
    {
        Stream clientBody = ctx.Response.Body;
        bool bodyDone = false;
        while (await call.ReadAsync(ct).ConfigureAwait(false) is { } r)
        {
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
                    while (await call.ReadAsync(ct).ConfigureAwait(false) is not null)
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
        int status = EnvoyReplies.StatusOf(ir);
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
                    ApplyResponseHeader(res, h.Key, EnvoyReplies.ValueOf(h));
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

    /// <summary>The client's request head as Envoy passes it on: pseudo-headers first, lowercase keys, no Host.</summary>
    private static HeaderMap BuildRequestHeaders(HttpRequest req)
    {
        var map = new HeaderMap();
        RepeatedField<HeaderValue> list = map.Headers;
        list.Add(EnvoyMessages.Header(":authority", req.Host.Value ?? ""));
        list.Add(EnvoyMessages.Header(":path", string.Concat(req.PathBase.Value, req.Path.Value, req.QueryString.Value)));
        list.Add(EnvoyMessages.Header(":method", req.Method));
        list.Add(EnvoyMessages.Header(":scheme", req.Scheme));
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> h in req.Headers)
        {
            if (h.Key.Equals("Host", StringComparison.OrdinalIgnoreCase))
                continue;
            string key = h.Key.ToLowerInvariant(); // Envoy delivers lowercase keys
            for (int i = 0; i < h.Value.Count; i++)
                list.Add(EnvoyMessages.Header(key, h.Value[i] ?? ""));
        }
        return map;
    }

    /// <summary>The upstream response head as Envoy passes it on (the served endpoint goes in the metadata).</summary>
    private static HeaderMap BuildResponseHeaders(HttpResponseMessage response)
    {
        var map = new HeaderMap();
        RepeatedField<HeaderValue> list = map.Headers;
        list.Add(EnvoyMessages.Header(":status", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        foreach (KeyValuePair<string, IEnumerable<string>> h in response.Headers)
            AddAll(list, h.Key, h.Value);
        foreach (KeyValuePair<string, IEnumerable<string>> h in response.Content.Headers)
            AddAll(list, h.Key, h.Value);
        return map;
    }

    private static void AddAll(RepeatedField<HeaderValue> list, string name, IEnumerable<string> values)
    {
        if (UpstreamClient.IsHopByHop(name))
            return;
        string key = name.ToLowerInvariant();
        foreach (string v in values)
            list.Add(EnvoyMessages.Header(key, v));
    }


    public void Dispose()
    {
        foreach (GrpcChannel channel in _channels)
            channel.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "ext_proc response phase failed: {Message}")]
        public static partial void ResponsePhaseFailed(ILogger logger, string message);
    }
}
