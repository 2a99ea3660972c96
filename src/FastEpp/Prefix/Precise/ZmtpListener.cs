using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace FastEpp.Prefix.Precise;

/// <summary>
/// The SUB side of llm-d's central mode (<c>kvEventsConfig.zmqEndpoint</c>): FastEpp binds one TCP endpoint and every
/// engine's PUB connects to it (vLLM connects its PUB when <c>endpoint</c> has neither <c>*</c> nor <c>::</c>). Each
/// accepted connection is its own <see cref="ZmtpSubscriber"/> (same handshake and subscription, its own buffer and
/// frame limit), reporting to the same handler; <see cref="ZmtpSubscriber.Tag"/> is set by <c>tagFor</c> before it
/// starts. Bounded: beyond <see cref="MaxConnections"/> live connections a new one is closed at once (counted, logged at
/// most every 10 s); a peer that does not finish the handshake within 10 s is dropped. A bind failure (port in use) is
/// logged and retried every 5 s, as llm-d's subscriber does.
/// </summary>
internal sealed class ZmtpListener : IAsyncDisposable
{
    public const int DefaultMaxConnections = 4096;
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_bindRetry = TimeSpan.FromSeconds(5);

    private readonly string _host;
    private readonly int _port;
    private readonly byte[] _topicFilter;
    private readonly IKvMessageHandler _handler;
    private readonly Func<ZmtpSubscriber, object?> _tagFor;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<ZmtpSubscriber, byte> _live = new();
    private Task? _loop;
    private Socket? _socket;
    private long _refused;
    private long _lastRefusedLog;
    private volatile int _boundPort;

    /// <param name="host"><c>*</c> (all interfaces), an IP address or a host name to resolve.</param>
    public ZmtpListener(string host, int port, ReadOnlySpan<byte> topicFilter, IKvMessageHandler handler, Func<ZmtpSubscriber, object?> tagFor,
        ILogger logger, int maxConnections = DefaultMaxConnections)
    {
        _host = host;
        _port = port;
        _topicFilter = topicFilter.ToArray();
        _handler = handler;
        _tagFor = tagFor;
        Logger = logger;
        MaxConnections = maxConnections;
    }

    public int MaxConnections { get; }

    /// <summary>Where the listener and its connections log (set before <see cref="Start"/>).</summary>
    public ILogger Logger { get; set; }

    /// <summary>The port actually bound (0 until bound; the configured one unless it was 0).</summary>
    public int BoundPort => _boundPort;

    /// <summary>The configured endpoint, as in the configuration.</summary>
    public string Address => _host.Contains(':') ? $"tcp://[{_host}]:{_port}" : $"tcp://{_host}:{_port}";

    /// <summary>Connections open now (handshake done or in progress).</summary>
    public int LiveConnections => _live.Count;

    /// <summary>Connections closed at once because <see cref="MaxConnections"/> were open.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket listen;
            try
            {
                listen = await BindAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is SocketException or ArgumentException)
            {
                Logger.LogError("precise-prefix-cache-producer: cannot bind kvEventsConfig.zmqEndpoint {Address}: {Error}; retrying in {Seconds} s",
                    Address, e.Message, s_bindRetry.TotalSeconds);
                try
                {
                    await Task.Delay(s_bindRetry, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            _socket = listen;
            _boundPort = ((IPEndPoint)listen.LocalEndPoint!).Port;
            Logger.LogInformation("precise-prefix-cache-producer: listening for KV-event publishers on {Address} (port {Port}, at most {Max} connections)",
                Address, _boundPort, MaxConnections);
            try
            {
                await AcceptLoopAsync(listen, ct).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (ct.IsCancellationRequested)
                    return;
                Logger.LogError("precise-prefix-cache-producer: the KV-event listener {Address} failed: {Error}; binding again", Address, e.Message);
                listen.Dispose();
            }
        }
    }

    private async Task<Socket> BindAsync(CancellationToken ct)
    {
        IPAddress address;
        if (_host is "*" or "")
        {
            // All interfaces: IPv6 + IPv4 (dual mode) where the host has IPv6, else IPv4 only.
            if (Socket.OSSupportsIPv6)
            {
                try
                {
                    return Bind(IPAddress.IPv6Any);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable or SocketError.ProtocolNotSupported)
                {
                }
            }
            return Bind(IPAddress.Any);
        }
        if (!IPAddress.TryParse(_host, out address!))
        {
            IPAddress[] resolved = await Dns.GetHostAddressesAsync(_host, ct).ConfigureAwait(false);
            address = resolved.Length > 0 ? resolved[0] : throw new SocketException((int)SocketError.HostNotFound);
        }
        return Bind(address);
    }

    private Socket Bind(IPAddress address)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true; // "*": IPv4 publishers too
            socket.Bind(new IPEndPoint(address, _port));
            socket.Listen(512);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task AcceptLoopAsync(Socket listen, CancellationToken ct)
    {
        while (true)
        {
            Socket accepted = await listen.AcceptAsync(ct).ConfigureAwait(false);
            if (_live.Count >= MaxConnections)
            {
                accepted.Dispose();
                Interlocked.Increment(ref _refused);
                long now = Environment.TickCount64;
                long last = Interlocked.Read(ref _lastRefusedLog);
                if (now - last > 10_000 && Interlocked.CompareExchange(ref _lastRefusedLog, now, last) == last)
                    Logger.LogWarning("precise-prefix-cache-producer: {Address} already has {Max} KV-event publishers connected: further connections are closed ({Refused} so far)",
                        Address, MaxConnections, Refused);
                continue;
            }
            accepted.NoDelay = true;
            var sub = new ZmtpSubscriber(accepted, _topicFilter, _handler, Logger, HandshakeTimeout);
            sub.Tag = _tagFor(sub);
            _live[sub] = 0;
            sub.Start();
            _ = ForgetWhenDoneAsync(sub);
        }
    }

    private async Task ForgetWhenDoneAsync(ZmtpSubscriber sub)
    {
        try
        {
            await sub.Loop!.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Logger.LogWarning(e, "KV-event connection from {Address} ended unexpectedly", sub.Address);
        }
        if (_live.TryRemove(sub, out _))
            await sub.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket?.Dispose();
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        foreach (var (sub, _) in _live)
        {
            if (_live.TryRemove(sub, out _))
                await sub.DisposeAsync().ConfigureAwait(false);
        }
        _stop.Dispose();
    }
}
