using System.Buffers.Binary;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace FastEpp.Prefix.Precise;

/// <summary>What a <see cref="ZmtpSubscriber"/> reports, on its receive loop (one call at a time per subscriber).</summary>
internal interface IKvMessageHandler
{
    /// <summary>The handshake with the publisher completed and the subscription is sent.</summary>
    void OnConnected(ZmtpSubscriber source);

    /// <summary>One 3-frame KV-event message: topic, big-endian u64 sequence number, msgpack payload.</summary>
    void OnMessage(ZmtpSubscriber source, ReadOnlySpan<byte> topic, ulong seq, ReadOnlySpan<byte> payload);

    /// <summary>A message that is not [topic][8-byte seq][payload] (skipped).</summary>
    void OnMalformed(ZmtpSubscriber source, string reason);

    /// <summary>The connection ended (or never came up); the subscriber retries with back-off.</summary>
    void OnDisconnected(ZmtpSubscriber source, string reason);

    /// <summary>
    /// Called on the receive loop after <see cref="OnConnected"/> or <see cref="OnMessage"/> asked for it with
    /// <see cref="ZmtpSubscriber.RequestReplay"/>; a message that asked is delivered again afterwards. Never throws.
    /// </summary>
    ValueTask ReplayAsync(ZmtpSubscriber source, CancellationToken ct) => default;
}

/// <summary>
/// A lean ZeroMQ SUB client: ZMTP 3.0 over TCP with the NULL mechanism (RFC 23/ZMTP), the subset vLLM's pyzmq PUB
/// speaks to a subscriber. Connects to <c>tcp://host:port</c>, greets as ZMTP 3.0 (so a 3.1 peer takes
/// subscriptions as <c>0x01</c>-prefixed messages, which every libzmq and NetMQ PUB accepts), sends READY with
/// Socket-Type SUB, subscribes to the topic filter, then reads multipart messages straight out of one pooled,
/// growing receive buffer — no allocation per message. Reconnects with back-off (100 ms doubling to 5 s), like a
/// libzmq SUB. Written instead of using NetMQ because NetMQ 4.0.4.5 (and its AsyncIO dependency) fail the native AOT
/// publish with 14 trim/AOT warnings (reflection in <c>Opcode.Open</c>, <c>GetDelegateForFunctionPointer</c>).
/// </summary>
internal sealed class ZmtpSubscriber : IAsyncDisposable
{
    /// <summary>The largest frame accepted; a bigger one is a broken or hostile peer (the connection is dropped).</summary>
    public const int MaxFrameBytes = 64 << 20;

    private static readonly TimeSpan s_minBackoff = TimeSpan.FromMilliseconds(100), s_maxBackoff = TimeSpan.FromSeconds(5);

    private readonly byte[] _topicFilter;
    private readonly IKvMessageHandler _handler;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Socket? _accepted;
    private readonly TimeSpan _handshakeTimeout;
    private Task? _loop;
    private byte[] _buffer;
    private volatile bool _connected;
    private bool _replayRequested;

    public ZmtpSubscriber(string host, int port, ReadOnlySpan<byte> topicFilter, IKvMessageHandler handler, ILogger logger, object? tag = null)
    {
        Host = host;
        Port = port;
        _topicFilter = topicFilter.ToArray();
        _handler = handler;
        _logger = logger;
        Tag = tag;
        _buffer = new byte[64 * 1024];
    }

    /// <summary>
    /// One connection a publisher made to a bound listener (<see cref="ZmtpListener"/>): the same SUB side of ZMTP
    /// (greeting, READY, subscription) on an accepted socket — in ZMTP the roles do not depend on who dialed. Runs once,
    /// no reconnect; a peer that does not finish the handshake within <paramref name="handshakeTimeout"/> is dropped.
    /// </summary>
    public ZmtpSubscriber(Socket accepted, ReadOnlySpan<byte> topicFilter, IKvMessageHandler handler, ILogger logger, TimeSpan handshakeTimeout)
    {
        _accepted = accepted;
        _handshakeTimeout = handshakeTimeout;
        var remote = accepted.RemoteEndPoint as System.Net.IPEndPoint;
        Host = remote is null ? "?" : (remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address).ToString();
        Port = remote?.Port ?? 0;
        _topicFilter = topicFilter.ToArray();
        _handler = handler;
        _logger = logger;
        _buffer = new byte[8 * 1024]; // grows to the largest message; many of these may be open at once
    }

    public string Host { get; }

    public int Port { get; }

    /// <summary>The owner's state for this subscription (the endpoint it follows); set before <see cref="Start"/>.</summary>
    public object? Tag { get; set; }

    /// <summary>True between a completed handshake and the next disconnect.</summary>
    public bool Connected => _connected;

    /// <summary>Completed handshakes (a value above 1 means the connection was re-established).</summary>
    public int Connections { get; private set; }

    public string Address => Host.Contains(':') ? $"tcp://[{Host}]:{Port}" : $"tcp://{Host}:{Port}";

    /// <summary>True for a connection a publisher made to our listener (central mode).</summary>
    public bool Accepted => _accepted is not null;

    /// <summary>The receive loop (null before <see cref="Start"/>); an accepted connection's ends with the connection.</summary>
    public Task? Loop => _loop;

    public void Start() => _loop ??= Task.Run(() => _accepted is null ? RunAsync(_stop.Token) : RunAcceptedAsync(_accepted, _stop.Token));

    /// <summary>
    /// From <see cref="IKvMessageHandler.OnConnected"/> or <see cref="IKvMessageHandler.OnMessage"/>: await the handler's
    /// <see cref="IKvMessageHandler.ReplayAsync"/> before reading on; a message that asks is not consumed and is
    /// delivered again after the replay.
    /// </summary>
    public void RequestReplay() => _replayRequested = true;

    private async ValueTask ReplayIfRequestedAsync(CancellationToken ct)
    {
        if (!_replayRequested)
            return;
        _replayRequested = false;
        await _handler.ReplayAsync(this, ct).ConfigureAwait(false);
    }

    private async Task RunAcceptedAsync(Socket socket, CancellationToken ct)
    {
        string reason;
        try
        {
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                handshake.CancelAfter(_handshakeTimeout);
                try
                {
                    await Zmtp.HandshakeAsync(socket, "SUB"u8.ToArray(), Zmtp.PubTypes, _topicFilter, handshake.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new ZmtpException($"no ZMTP handshake within {_handshakeTimeout.TotalSeconds:0.#} s");
                }
            }
            _connected = true;
            Connections++;
            _handler.OnConnected(this);
            await ReplayIfRequestedAsync(ct).ConfigureAwait(false);
            await ReadMessagesAsync(socket, ct).ConfigureAwait(false);
            reason = "the publisher closed the connection";
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _connected = false;
            socket.Dispose();
            return;
        }
        catch (Exception e) when (e is SocketException or IOException or ZmtpException or ObjectDisposedException)
        {
            reason = e.Message;
        }
        socket.Dispose();
        bool was = _connected;
        _connected = false;
        _handler.OnDisconnected(this, reason);
        if (was)
            _logger.LogInformation("KV-event publisher {Address} disconnected: {Reason}", Address, reason);
        else
            _logger.LogDebug("Connection from {Address} dropped before the ZMTP handshake completed: {Reason}", Address, reason);
    }

    private async Task RunAsync(CancellationToken ct)
    {
        TimeSpan backoff = s_minBackoff;
        while (!ct.IsCancellationRequested)
        {
            string reason;
            try
            {
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(Host, Port, ct).ConfigureAwait(false);
                await Zmtp.HandshakeAsync(socket, "SUB"u8.ToArray(), Zmtp.PubTypes, _topicFilter, ct).ConfigureAwait(false);
                _connected = true;
                Connections++;
                backoff = s_minBackoff;
                _handler.OnConnected(this);
                await ReplayIfRequestedAsync(ct).ConfigureAwait(false);
                await ReadMessagesAsync(socket, ct).ConfigureAwait(false);
                reason = "the publisher closed the connection";
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is SocketException or IOException or ZmtpException or ObjectDisposedException)
            {
                reason = e.Message;
            }
            bool was = _connected;
            _connected = false;
            _handler.OnDisconnected(this, reason);
            if (was)
                _logger.LogInformation("KV-event stream {Address} disconnected: {Reason}", Address, reason);
            try
            {
                await Task.Delay(backoff, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            backoff = backoff * 2 > s_maxBackoff ? s_maxBackoff : backoff * 2;
        }
        _connected = false;
    }

    /// <summary>
    /// Reads frames into <see cref="_buffer"/> and hands every complete multipart message to the handler as slices of it.
    /// Only the unfinished tail is ever moved; the buffer doubles when one message does not fit.
    /// </summary>
    private async Task ReadMessagesAsync(Socket socket, CancellationToken ct)
    {
        int start = 0, end = 0;
        while (true)
        {
            if (end == _buffer.Length)
            {
                if (start > 0)
                {
                    _buffer.AsSpan(start, end - start).CopyTo(_buffer);
                    end -= start;
                    start = 0;
                }
                else
                {
                    if (_buffer.Length >= MaxFrameBytes + 64)
                        throw new ZmtpException("a message larger than the frame limit");
                    Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxFrameBytes + 64));
                }
            }
            int read = await socket.ReceiveAsync(_buffer.AsMemory(end), SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0)
                return;
            end += read;
            start = ConsumeMessages(start, end);
            while (_replayRequested)
            {
                // The handler held the message at `start` back for a replay: replay, then deliver it again.
                await ReplayIfRequestedAsync(ct).ConfigureAwait(false);
                start = ConsumeMessages(start, end);
            }
            if (start == end)
                start = end = 0;
        }
    }

    /// <summary>Processes every complete message in [start, end); returns where the first incomplete one begins.</summary>
    private int ConsumeMessages(int start, int end)
    {
        Span<int> frameStart = stackalloc int[3];
        Span<int> frameLen = stackalloc int[3];
        while (true)
        {
            int at = start, frames = 0;
            bool complete = false;
            bool command = false;
            while (at < end)
            {
                byte flags = _buffer[at];
                long size;
                int header;
                if ((flags & 0x02) != 0)
                {
                    if (end - at < 9)
                        return start;
                    size = (long)BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(at + 1, 8));
                    header = 9;
                }
                else
                {
                    if (end - at < 2)
                        return start;
                    size = _buffer[at + 1];
                    header = 2;
                }
                if (size > MaxFrameBytes)
                    throw new ZmtpException("a frame larger than the frame limit");
                if (end - at - header < size)
                    return start;
                if ((flags & 0x04) != 0)
                    command = true; // PING etc. (ZMTP 3.1): not part of a message
                else if (frames < 3)
                {
                    frameStart[frames] = at + header;
                    frameLen[frames] = (int)size;
                }
                if (!command)
                    frames++;
                at += header + (int)size;
                if ((flags & 0x01) == 0 || command)
                {
                    complete = true;
                    break;
                }
            }
            if (!complete)
                return start;
            if (!command)
            {
                Deliver(frames, frameStart, frameLen);
                if (_replayRequested)
                    return start; // not consumed: delivered again after the replay
            }
            start = at;
            if (start == end)
                return start;
        }
    }

    private void Deliver(int frames, ReadOnlySpan<int> frameStart, ReadOnlySpan<int> frameLen)
    {
        if (frames != 3)
        {
            _handler.OnMalformed(this, $"a message of {frames} frames (expected topic, sequence, payload)");
            return;
        }
        ReadOnlySpan<byte> topic = _buffer.AsSpan(frameStart[0], frameLen[0]);
        if (!topic.StartsWith(_topicFilter))
            return; // the publisher filters too; this guards a peer that does not
        if (frameLen[1] != 8)
        {
            _handler.OnMalformed(this, "a sequence frame that is not 8 bytes");
            return;
        }
        ulong seq = BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(frameStart[1], 8));
        _handler.OnMessage(this, topic, seq, _buffer.AsSpan(frameStart[2], frameLen[2]));
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
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
        _stop.Dispose();
    }
}

/// <summary>A ZMTP protocol error (the connection is dropped).</summary>
internal sealed class ZmtpException(string message) : Exception(message);

/// <summary>ZMTP 3.0 pieces shared by the SUB (<see cref="ZmtpSubscriber"/>) and the replay DEALER (<see cref="ZmtpReplayClient"/>).</summary>
internal static class Zmtp
{
    public static readonly byte[][] PubTypes = ["PUB"u8.ToArray(), "XPUB"u8.ToArray()];
    public static readonly byte[][] RouterTypes = ["ROUTER"u8.ToArray()];

    /// <summary>
    /// Greeting (3.0, NULL), READY with our socket type, the peer's READY (its socket type must be one of
    /// <paramref name="peerTypes"/>), then — for a SUB — the subscription message. The same on either end of the TCP
    /// connection: ZMTP roles do not depend on who dialed.
    /// </summary>
    public static async Task HandshakeAsync(Socket socket, byte[] ownType, byte[][] peerTypes, byte[]? subscribe, CancellationToken ct)
    {
        // Greeting (64 bytes): signature FF 00×8 7F, version 3.0, mechanism "NULL" padded to 20, as-server 0, filler.
        byte[] greeting = new byte[64];
        greeting[0] = 0xff;
        greeting[9] = 0x7f;
        greeting[10] = 3;
        greeting[11] = 0;
        "NULL"u8.CopyTo(greeting.AsSpan(12));
        await SendAllAsync(socket, greeting, ct).ConfigureAwait(false);

        byte[] peer = new byte[64];
        await ReceiveExactlyAsync(socket, peer.AsMemory(0, 10), ct).ConfigureAwait(false);
        if (peer[0] != 0xff || (peer[9] & 1) != 1)
            throw new ZmtpException("the peer is not a ZMTP 3 peer (bad signature)");
        await ReceiveExactlyAsync(socket, peer.AsMemory(10, 54), ct).ConfigureAwait(false);
        if (peer[10] < 3)
            throw new ZmtpException($"the peer speaks ZMTP {peer[10]}.{peer[11]}; 3.0 or later is needed");
        if (!peer.AsSpan(12, 20).StartsWith("NULL\0"u8))
            throw new ZmtpException("the peer asks for a security mechanism other than NULL (CURVE/PLAIN are not supported)");

        await SendAllAsync(socket, BuildReady(ownType), ct).ConfigureAwait(false);

        // The peer's READY (a command frame).
        byte[] head = new byte[9];
        await ReceiveExactlyAsync(socket, head.AsMemory(0, 2), ct).ConfigureAwait(false);
        if ((head[0] & 0x04) == 0)
            throw new ZmtpException("the peer did not start with a READY command");
        long size = head[1];
        if ((head[0] & 0x02) != 0)
        {
            await ReceiveExactlyAsync(socket, head.AsMemory(2, 7), ct).ConfigureAwait(false);
            size = (long)BinaryPrimitives.ReadUInt64BigEndian(head.AsSpan(1, 8));
        }
        if (size is < 6 or > 64 * 1024)
            throw new ZmtpException("the peer's READY command has an invalid size");
        byte[] body = new byte[size];
        await ReceiveExactlyAsync(socket, body, ct).ConfigureAwait(false);
        if (body[0] != 5 || !body.AsSpan(1, 5).SequenceEqual("READY"u8))
            throw new ZmtpException("the peer's first command is not READY");
        ReadOnlySpan<byte> socketType = FindProperty(body.AsSpan(6), "Socket-Type"u8);
        bool known = false;
        foreach (byte[] t in peerTypes)
            known |= socketType.SequenceEqual(t);
        if (!known)
            throw new ZmtpException($"the peer is a {System.Text.Encoding.ASCII.GetString(socketType)} socket, not {string.Join('/', peerTypes.Select(t => System.Text.Encoding.ASCII.GetString(t)))}");

        if (subscribe is null)
            return;
        // Subscribe: a message whose first byte is 1, then the topic prefix.
        if (subscribe.Length > 254)
            throw new ZmtpException("the topic filter is longer than 254 bytes");
        byte[] sub = new byte[2 + 1 + subscribe.Length];
        sub[0] = 0x00;
        sub[1] = (byte)(1 + subscribe.Length);
        sub[2] = 0x01;
        subscribe.CopyTo(sub, 3);
        await SendAllAsync(socket, sub, ct).ConfigureAwait(false);
    }

    private static byte[] BuildReady(ReadOnlySpan<byte> value)
    {
        ReadOnlySpan<byte> name = "Socket-Type"u8;
        int bodyLen = 1 + 5 + 1 + name.Length + 4 + value.Length;
        byte[] frame = new byte[2 + bodyLen];
        frame[0] = 0x04;
        frame[1] = (byte)bodyLen;
        int at = 2;
        frame[at++] = 5;
        "READY"u8.CopyTo(frame.AsSpan(at));
        at += 5;
        frame[at++] = (byte)name.Length;
        name.CopyTo(frame.AsSpan(at));
        at += name.Length;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(at), (uint)value.Length);
        at += 4;
        value.CopyTo(frame.AsSpan(at));
        return frame;
    }

    private static ReadOnlySpan<byte> FindProperty(ReadOnlySpan<byte> metadata, ReadOnlySpan<byte> wanted)
    {
        while (metadata.Length >= 1)
        {
            int nameLen = metadata[0];
            if (metadata.Length < 1 + nameLen + 4)
                break;
            ReadOnlySpan<byte> name = metadata.Slice(1, nameLen);
            uint valueLen = BinaryPrimitives.ReadUInt32BigEndian(metadata.Slice(1 + nameLen, 4));
            if (valueLen > metadata.Length - 5 - nameLen)
                break;
            ReadOnlySpan<byte> value = metadata.Slice(5 + nameLen, (int)valueLen);
            if (System.Text.Ascii.EqualsIgnoreCase(name, wanted))
                return value;
            metadata = metadata[(5 + nameLen + (int)valueLen)..];
        }
        return default;
    }

    public static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            int sent = await socket.SendAsync(data, SocketFlags.None, ct).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    public static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> into, CancellationToken ct)
    {
        while (!into.IsEmpty)
        {
            int read = await socket.ReceiveAsync(into, SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0)
                throw new ZmtpException("the peer closed the connection during the handshake");
            into = into[read..];
        }
    }
}
