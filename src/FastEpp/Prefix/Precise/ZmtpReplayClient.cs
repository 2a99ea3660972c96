using System.Buffers.Binary;
using System.Net.Sockets;

namespace FastEpp.Prefix.Precise;

/// <summary>
/// vLLM's replay protocol, client side (llm-d's DEALER; routing.md §1.2): connect a ZMTP DEALER to the engine's replay
/// ROUTER, send <c>[empty][start_seq: u64 BE]</c>, then read one reply per buffered batch with seq ≥ start_seq —
/// <c>[empty][topic][seq][payload]</c> (vLLM v0.26+) — until the end marker <c>[empty][""][ff×8][""]</c> (3 frames after
/// the delimiter, empty payload, as llm-d tests it). The older 2-frame replies (<c>[seq][payload]</c>, vLLM ≤ v0.25) are
/// reported as malformed, as llm-d does (replay needs vLLM ≥ v0.26). Frames are slices of one reusable buffer, valid
/// until the next <see cref="ReceiveAsync"/>.
/// </summary>
internal sealed class ZmtpReplayClient : IDisposable
{
    private readonly Socket _socket;
    private byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;
    private readonly int[] _frameStart = new int[4], _frameLength = new int[4];

    private ZmtpReplayClient(Socket socket) => _socket = socket;

    public static async Task<ZmtpReplayClient> ConnectAsync(string host, int port, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, ct).ConfigureAwait(false);
            await Zmtp.HandshakeAsync(socket, "DEALER"u8.ToArray(), Zmtp.RouterTypes, null, ct).ConfigureAwait(false);
            return new ZmtpReplayClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Asks for every buffered batch from <paramref name="startSeq"/> on.</summary>
    public Task SendRequestAsync(ulong startSeq, CancellationToken ct)
    {
        byte[] request = new byte[2 + 2 + 8];
        request[0] = 0x01; // empty delimiter frame, MORE
        request[1] = 0;
        request[2] = 0x00; // last frame: 8 bytes
        request[3] = 8;
        BinaryPrimitives.WriteUInt64BigEndian(request.AsSpan(4), startSeq);
        return Zmtp.SendAllAsync(_socket, request, ct);
    }

    /// <summary>One reply, the leading empty delimiter dropped. <see cref="ReplayFrame.End"/> for the end marker.</summary>
    public async ValueTask<ReplayFrame> ReceiveAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        int frames = 0, at = 0;
        while (true)
        {
            await EnsureAsync(at + 2, ct).ConfigureAwait(false);
            byte flags = _buffer[at];
            long size;
            int header;
            if ((flags & 0x02) != 0)
            {
                await EnsureAsync(at + 9, ct).ConfigureAwait(false);
                size = (long)BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(at + 1, 8));
                header = 9;
            }
            else
            {
                size = _buffer[at + 1];
                header = 2;
            }
            if (size > ZmtpSubscriber.MaxFrameBytes)
                throw new ZmtpException("a replay frame larger than the frame limit");
            await EnsureAsync(at + header + (int)size, ct).ConfigureAwait(false);
            bool command = (flags & 0x04) != 0;
            if (!command)
            {
                if (frames < _frameStart.Length)
                {
                    _frameStart[frames] = at + header;
                    _frameLength[frames] = (int)size;
                }
                frames++;
            }
            at += header + (int)size;
            if (command || (flags & 0x01) != 0)
            {
                if (command && frames == 0)
                {
                    // A command between messages (PING): skip it.
                    _start = at;
                    _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                    _end -= _start;
                    _start = at = 0;
                }
                continue;
            }
            break;
        }
        _start = at;
        int first = frames > 0 && _frameLength[0] == 0 ? 1 : 0; // the DEALER's empty delimiter
        int n = frames - first;
        if (n == 3 && frames <= _frameStart.Length && _frameLength[first + 2] == 0)
            return ReplayFrame.End;
        if (n != 3 || frames > _frameStart.Length || _frameLength[first + 1] != 8)
            return new ReplayFrame(ReplayFrameKind.Malformed, n, default, 0, default);
        ulong seq = BinaryPrimitives.ReadUInt64BigEndian(_buffer.AsSpan(_frameStart[first + 1], 8));
        return new ReplayFrame(ReplayFrameKind.Batch, n, _buffer.AsMemory(_frameStart[first], _frameLength[first]), seq,
            _buffer.AsMemory(_frameStart[first + 2], _frameLength[first + 2]));
    }

    private async ValueTask EnsureAsync(int count, CancellationToken ct)
    {
        while (_end < count)
        {
            if (count > _buffer.Length)
                Array.Resize(ref _buffer, Math.Max(count, Math.Min(_buffer.Length * 2, ZmtpSubscriber.MaxFrameBytes + 64)));
            int read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0)
                throw new ZmtpException("the replay socket closed the connection");
            _end += read;
        }
    }

    public void Dispose() => _socket.Dispose();
}

internal enum ReplayFrameKind
{
    Batch,
    End,
    Malformed,
}

/// <summary>One replay reply; <see cref="Topic"/>/<see cref="Payload"/> are valid until the next receive.</summary>
internal readonly record struct ReplayFrame(ReplayFrameKind Kind, int Frames, ReadOnlyMemory<byte> Topic, ulong Seq, ReadOnlyMemory<byte> Payload)
{
    public static readonly ReplayFrame End = new(ReplayFrameKind.End, 3, default, 0, default);
}
