using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastEpp.Gateway;

/// <summary>
/// The gateway: a Kestrel HTTP/1.1 listener that routes every request by <see cref="GatewayOptions.Mode"/>.
/// <c>GET /gateway/stats</c> answers <see cref="GatewayStats"/> as JSON. Usable in-process (perf tool, tests)
/// or as the <c>FastEpp.Gateway</c> executable.
/// </summary>
internal sealed class GatewayServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly UpstreamClient _upstream = new();
    private readonly EppRouter? _epp;
    private readonly string[] _upstreams;
    private readonly Random _random;
    private readonly object _randomLock = new();
    private ListenOptions? _listen;
    private long _roundRobin = -1;
    private long _bypassRoundRobin = -1;
    private long _arrivals = -1;

    private GatewayServer(GatewayOptions options)
    {
        string? invalid = options.Validate();
        if (invalid is not null)
            throw new ArgumentException(invalid, nameof(options));
        Options = options;
        Stats = new GatewayStats(options.Mode);
        _upstreams = options.Upstreams.ToArray();
        _random = new Random(options.Seed);

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            k.Limits.MaxConcurrentConnections = null;
            IPAddress address = options.Host switch
            {
                "*" or "0.0.0.0" or "" => IPAddress.Any,
                "localhost" => IPAddress.Loopback,
                _ => IPAddress.Parse(options.Host),
            };
            k.Listen(address, options.Port, lo =>
            {
                lo.Protocols = HttpProtocols.Http1;
                _listen = lo;
            });
        });
        _app = builder.Build();
        if (options.Mode == RoutingMode.Epp)
            _epp = new EppRouter(options, _upstream, NextRoundRobin, Stats, _app.Logger);
        _app.Run(HandleAsync);
    }

    /// <summary>Options in force.</summary>
    public GatewayOptions Options { get; }

    /// <summary>Counters.</summary>
    public GatewayStats Stats { get; }

    /// <summary>Bound port (after <see cref="StartAsync"/>).</summary>
    public int Port { get; private set; }

    /// <summary>http://host:port of the listener (after <see cref="StartAsync"/>).</summary>
    public string BaseAddress { get; private set; } = "";

    /// <summary>Builds a gateway (not started). Throws <see cref="ArgumentException"/> on invalid options.</summary>
    public static GatewayServer Create(GatewayOptions options) => new(options);

    /// <summary>Binds the port.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        Port = _listen?.IPEndPoint?.Port ?? Options.Port;
        string host = Options.Host is "*" or "0.0.0.0" or "" ? "127.0.0.1" : Options.Host;
        BaseAddress = "http://" + host + ":" + Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Completes when the host shuts down (Ctrl+C / SIGTERM).</summary>
    public Task WaitForShutdownAsync() => _app.WaitForShutdownAsync();

    private Task HandleAsync(HttpContext ctx)
    {
        if (ctx.Request.Path.StartsWithSegments("/gateway/stats"))
            return WriteStatsAsync(ctx);
        Stats.OnRequest();
        if (Options.BypassFraction > 0 && IsBypassed(ctx.Request))
        {
            // Traffic that never asks the picker: another gateway, or clients on a plain Service next to the pool.
            Stats.OnBypass();
            return ForwardPlainAsync(ctx, NextBypass());
        }
        if (_epp is not null)
            return _epp.HandleAsync(ctx);
        if (Options.Mode == RoutingMode.Oracle)
            return ForwardPickedAsync(ctx);
        return ForwardPlainAsync(ctx, Options.Mode == RoutingMode.Random ? NextRandom() : NextRoundRobin());
    }

    private string NextRoundRobin()
    {
        long i = Interlocked.Increment(ref _roundRobin);
        return _upstreams[(int)((ulong)i % (ulong)_upstreams.Length)];
    }

    private bool IsBypassed(HttpRequest request)
    {
        long arrival = Interlocked.Increment(ref _arrivals);
        return request.Headers.TryGetValue("x-request-id", out Microsoft.Extensions.Primitives.StringValues id) && id.Count > 0 && !string.IsNullOrEmpty(id[0])
            ? BypassSelector.IsBypassed(Options.Seed, Options.BypassFraction, id[0])
            : BypassSelector.IsBypassed(Options.Seed, Options.BypassFraction, arrival);
    }

    /// <summary>Bypassed requests' own round robin (a plain Service's), independent of fail-open's.</summary>
    private string NextBypass()
    {
        long i = Interlocked.Increment(ref _bypassRoundRobin);
        return _upstreams[(int)((ulong)i % (ulong)_upstreams.Length)];
    }

    private string NextRandom()
    {
        int i;
        lock (_randomLock)
            i = _random.Next(_upstreams.Length);
        return _upstreams[i];
    }

    /// <summary>Mode oracle: the whole body is read (as Envoy buffers it for an EPP), the picker chooses, then a plain forward.</summary>
    private async Task ForwardPickedAsync(HttpContext ctx)
    {
        PipeReader reader = ctx.Request.BodyReader;
        ReadResult read;
        while (true)
        {
            read = await reader.ReadAsync(ctx.RequestAborted).ConfigureAwait(false);
            if (read.IsCompleted || read.IsCanceled)
                break;
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
        byte[] body = read.Buffer.ToArray();
        long pickStart = System.Diagnostics.Stopwatch.GetTimestamp();
        string? endpoint = Options.Picker!(read.Buffer, ctx.Request.Path.Value ?? "/");
        Stats.OnPick(System.Diagnostics.Stopwatch.GetElapsedTime(pickStart));
        reader.AdvanceTo(read.Buffer.End);
        if (endpoint is null)
        {
            Stats.OnFallback();
            endpoint = NextRoundRobin();
        }
        var content = new ByteArrayContent(body); // CreateRequest copies the headers, Content-Type included
        await ForwardPlainAsync(ctx, endpoint, content).ConfigureAwait(false);
    }

    /// <summary>A plain Service: one upstream, no retry, body streamed through untouched.</summary>
    private async Task ForwardPlainAsync(HttpContext ctx, string endpoint, HttpContent? content = null)
    {
        HttpRequest req = ctx.Request;
        if (content is null && (req.ContentLength > 0 || (req.ContentLength is null && req.Headers.ContainsKey("Transfer-Encoding"))))
        {
            content = new StreamContent(req.Body, Options.ChunkBytes);
            if (req.ContentLength is long len)
                content.Headers.ContentLength = len;
        }
        HttpRequestMessage request = UpstreamClient.CreateRequest(req, endpoint, content);
        (UpstreamOutcome outcome, HttpResponseMessage? response) = await _upstream.SendAsync(request, ctx.RequestAborted).ConfigureAwait(false);
        if (outcome != UpstreamOutcome.Ok || response is null)
        {
            Stats.OnUpstreamError();
            Stats.OnStatus(503);
            if (!ctx.RequestAborted.IsCancellationRequested && !ctx.Response.HasStarted)
            {
                ctx.Response.StatusCode = 503;
                await ctx.Response.WriteAsync("upstream connect error or disconnect/reset before headers", ctx.RequestAborted).ConfigureAwait(false);
            }
            return;
        }
        Stats.OnUpstream(endpoint);
        using (response)
        {
            UpstreamClient.CopyResponseHead(response, ctx.Response, keepContentLength: true);
            Stats.OnStatus(ctx.Response.StatusCode);
            try
            {
                await UpstreamClient.CopyBodyAsync(response, ctx, Options.ChunkBytes, ctx.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && !ctx.RequestAborted.IsCancellationRequested)
            {
                Stats.OnUpstreamError();
                ctx.Abort(); // upstream reset mid-body: reset the client too, as Envoy does
            }
        }
    }

    private async Task WriteStatsAsync(HttpContext ctx)
    {
        ctx.Response.ContentType = "application/json";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
            Stats.WriteJson(w);
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _epp?.Dispose();
        _upstream.Dispose();
    }
}
