using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastEpp.Chaos;

/// <summary>What a replica's <c>/metrics</c> does (the fault front answers the EPP's scrapes itself).</summary>
internal enum MetricsFault
{
    /// <summary>The replica's own answer, relayed.</summary>
    None,
    /// <summary>Never answers (the connection stays open until the scraper gives up).</summary>
    Hang,
    /// <summary>The replica's answer after <see cref="FaultFront.SlowDelay"/>.</summary>
    Slow,
    /// <summary>HTTP 500.</summary>
    Error500,
    /// <summary>200 with a chunked body that never ends.</summary>
    EndlessBody,
}

/// <summary>
/// The network in front of one simulated replica: a TCP listener whose address is the endpoint the EPP and the gateway
/// know. Inference connections are piped byte for byte to the replica. A connection whose first request is
/// <c>GET /metrics</c> is the EPP's scraper: it is answered here, per <see cref="Fault"/>. <see cref="Kill"/> is what a
/// dead pod looks like from the network (every connection reset, new connections refused); <see cref="Revive"/>
/// listens again on the same port.
/// </summary>
internal sealed class FaultFront : IAsyncDisposable
{
    private static readonly byte[] s_metricsPrefix = "GET /metrics"u8.ToArray();
    private readonly int _upstreamPort;
    private readonly HttpClient _metricsClient;
    private readonly ConcurrentDictionary<Socket, byte> _sockets = new();
    private Socket? _listener;
    private long _endlessBytes;

    private readonly IPAddress _bind;

    /// <param name="bind">Listen address (127.0.0.1 by default; pool mode gives each replica its own "pod IP" 127.0.0.x).</param>
    /// <param name="port">Listen port; 0 = ephemeral (kept for <see cref="Revive"/>).</param>
    public FaultFront(int upstreamPort, HttpClient metricsClient, IPAddress? bind = null, int port = 0)
    {
        _upstreamPort = upstreamPort;
        _metricsClient = metricsClient;
        _bind = bind ?? IPAddress.Loopback;
        Port = port;
    }

    /// <summary>The port the EPP and the gateway use for this replica.</summary>
    public int Port { get; private set; }

    public string Address => _bind.ToString();

    public string Endpoint => Address + ":" + Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public volatile MetricsFault Fault;

    /// <summary>Delay of <see cref="MetricsFault.Slow"/>.</summary>
    public static readonly TimeSpan SlowDelay = TimeSpan.FromMilliseconds(600);

    /// <summary>Bytes sent in endless metrics bodies so far.</summary>
    public long EndlessBytes => Interlocked.Read(ref _endlessBytes);

    /// <summary>Scrapes answered (any fault) so far.</summary>
    public long Scrapes;

    /// <summary>Connections currently open through this front (both directions count once).</summary>
    public int OpenConnections => _sockets.Count / 2;

    public void Start()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(new IPEndPoint(_bind, Port));
        s.Listen(1024);
        Port = ((IPEndPoint)s.LocalEndPoint!).Port;
        _listener = s;
        _ = AcceptLoopAsync(s);
    }

    /// <summary>A dead pod: the listener goes away (connections refused) and every open connection is reset.</summary>
    public void Kill()
    {
        Interlocked.Exchange(ref _listener, null)?.Dispose();
        foreach (Socket s in _sockets.Keys)
            Reset(s);
    }

    /// <summary>Listens again on the same port.</summary>
    public void Revive()
    {
        if (_listener is null)
            Start();
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            client.NoDelay = true;
            _ = HandleAsync(client);
        }
    }

    internal static void Reset(Socket s)
    {
        try
        {
            s.LingerState = new LingerOption(true, 0); // close → RST, as a dead process's kernel does
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        s.Dispose();
    }

    private async Task HandleAsync(Socket client)
    {
        _sockets[client] = 0;
        Socket? upstream = null;
        try
        {
            byte[] first = new byte[16 * 1024];
            int have = 0;
            while (have < s_metricsPrefix.Length)
            {
                int n = await client.ReceiveAsync(first.AsMemory(have), SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                    return;
                have += n;
            }
            if (first.AsSpan(0, s_metricsPrefix.Length).SequenceEqual(s_metricsPrefix))
            {
                _sockets[client] = 1;
                await ServeMetricsAsync(client, first, have).ConfigureAwait(false);
                return;
            }
            upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            _sockets[upstream] = 0;
            await upstream.ConnectAsync(IPAddress.Loopback, _upstreamPort).ConfigureAwait(false);
            await upstream.SendAsync(first.AsMemory(0, have), SocketFlags.None).ConfigureAwait(false);
            Task up = PipeAsync(client, upstream);
            Task down = PipeAsync(upstream, client);
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            Reset(client);
            if (upstream is not null)
                Reset(upstream);
        }
        finally
        {
            _sockets.TryRemove(client, out _);
            client.Dispose();
            if (upstream is not null)
            {
                _sockets.TryRemove(upstream, out _);
                upstream.Dispose();
            }
        }
    }

    /// <summary>from → to until EOF (then half-close to); a reset on either side resets both.</summary>
    internal static async Task PipeAsync(Socket from, Socket to)
    {
        byte[] buffer = new byte[32 * 1024];
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                int sent = 0;
                while (sent < n)
                    sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            Reset(from);
            Reset(to);
        }
    }

    /// <summary>The scraper's keep-alive connection: each GET (no body) answered per <see cref="Fault"/>.</summary>
    private async Task ServeMetricsAsync(Socket client, byte[] buffer, int have)
    {
        while (true)
        {
            int end;
            while ((end = buffer.AsSpan(0, have).IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (have == buffer.Length)
                    return;
                int n = await client.ReceiveAsync(buffer.AsMemory(have), SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                    return;
                have += n;
            }
            int consumed = end + 4;
            Buffer.BlockCopy(buffer, consumed, buffer, 0, have - consumed);
            have -= consumed;
            Interlocked.Increment(ref Scrapes);
            switch (Fault)
            {
                case MetricsFault.Hang:
                    // Read until the scraper closes; never answer.
                    while (await client.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false) > 0)
                    {
                    }
                    return;
                case MetricsFault.Error500:
                    await SendAsync(client, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n\r\ninjected metrics error"u8.ToArray()).ConfigureAwait(false);
                    break;
                case MetricsFault.EndlessBody:
                    await SendEndlessAsync(client).ConfigureAwait(false);
                    return;
                default:
                    if (Fault == MetricsFault.Slow)
                        await Task.Delay(SlowDelay).ConfigureAwait(false);
                    byte[] body;
                    try
                    {
                        body = await _metricsClient.GetByteArrayAsync($"http://127.0.0.1:{_upstreamPort}/metrics").ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        return; // the replica is gone: so is this connection
                    }
                    await SendAsync(client, Encoding.ASCII.GetBytes(
                        $"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {body.Length}\r\n\r\n")).ConfigureAwait(false);
                    await SendAsync(client, body).ConfigureAwait(false);
                    break;
            }
        }
    }

    private static async Task SendAsync(Socket s, byte[] data)
    {
        int sent = 0;
        while (sent < data.Length)
            sent += await s.SendAsync(data.AsMemory(sent), SocketFlags.None).ConfigureAwait(false);
    }

    /// <summary>A metrics body that never ends: well-formed lines in 64 KiB chunks until the scraper hangs up.</summary>
    private async Task SendEndlessAsync(Socket client)
    {
        await SendAsync(client, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray()).ConfigureAwait(false);
        var line = "vllm:decoy_metric{model_name=\"m\",le=\"+Inf\"} 1\n"u8;
        var payload = new byte[64 * 1024];
        for (int i = 0; i + line.Length <= payload.Length; i += line.Length)
            line.CopyTo(payload.AsSpan(i));
        byte[] chunk = [.. Encoding.ASCII.GetBytes(payload.Length.ToString("x", System.Globalization.CultureInfo.InvariantCulture) + "\r\n"), .. payload, .. "\r\n"u8];
        while (true)
        {
            await SendAsync(client, chunk).ConfigureAwait(false); // throws once the scraper closes
            Interlocked.Add(ref _endlessBytes, payload.Length);
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }
}
