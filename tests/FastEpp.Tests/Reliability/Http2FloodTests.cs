using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.Tests.Common;
using FastEpp.Tests.ExtProc;
using Xunit.Abstractions;

namespace FastEpp.Tests.Reliability;

/// <summary>
/// HTTP/2 floods against the gRPC port with a client that writes raw frames (no HTTP/2 library in between, so nothing
/// throttles the attacker): rapid reset (CVE-2023-44487: HEADERS then RST_STREAM, tens of thousands per connection) and a
/// PING flood from a client that never reads. Kestrel's own mitigations are what is measured; the EPP must keep serving
/// other connections and leave nothing in flight.
/// </summary>
public sealed class Http2FloodTests(ITestOutputHelper output) : IAsyncLifetime
{
    private EppServer _epp = null!;

    public async Task InitializeAsync() => _epp = await EppServer.StartAsync();

    public async Task DisposeAsync() => await _epp.DisposeAsync();

    private async Task AssertHealthyStream()
    {
        var body = Encoding.UTF8.GetBytes("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"still fine\"}]}");
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(body, 64 * 1024);
        var headers = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        Assert.Equal(body, (await s.ReadRequestBody()).Body);
    }

    private async Task AssertNothingInFlight()
    {
        await Wait.UntilAsync(() => _epp.Endpoints.Endpoints.All(e => e.State.InFlight == 0), "every endpoint's in-flight counter back to 0");
        await Wait.UntilAsync(() => _epp.Host.Runtime.Stats.Running == 0, "no request running");
    }

    [Fact]
    public async Task RapidReset_RawFrames_ConnectionCutOrAbsorbed_OthersServed()
    {
        const int streams = 50_000;
        await using var c = await RawH2.ConnectAsync(_epp.Host.GrpcPort);
        byte[] headerBlock = RawH2.GrpcRequestHeaders();
        int sent = 0;
        var batch = new MemoryStream();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            for (int i = 0; i < streams; i++)
            {
                int id = 1 + 2 * i;
                RawH2.Frame(batch, RawH2.Headers, RawH2.EndHeaders, id, headerBlock);
                RawH2.Frame(batch, RawH2.RstStream, 0, id, [0, 0, 0, 8]); // CANCEL
                if (i % 200 == 199 || i == streams - 1)
                {
                    await c.WriteAsync(batch.ToArray());
                    batch.SetLength(0);
                    sent = i + 1;
                }
            }
        }
        catch (IOException)
        {
            // the server closed the connection under the flood
        }
        double floodSeconds = clock.Elapsed.TotalSeconds;
        await AssertHealthyStream(); // another connection is served during/after the flood
        await Task.WhenAny(c.Closed, Task.Delay(2000)); // a bounded look for the server's verdict (figure only)
        output.WriteLine($"rapid reset: {sent} HEADERS+RST_STREAM pairs written in {floodSeconds:0.00} s; server GOAWAY: {(c.GoAwayCode is { } code ? $"error {code} after stream {c.GoAwayLastStream}" : "none")}; " +
            $"server RST_STREAM frames: {c.RstFrames}; connection closed by the server: {c.Closed.IsCompleted}");
        // Either Kestrel cut the connection (GOAWAY ENHANCE_YOUR_CALM=11 / closed) or it absorbed every stream; both leave nothing behind.
        Assert.True(sent == streams || c.GoAwayCode is not null || c.Closed.IsCompleted, "the writes failed without the server closing the connection");
        await AssertNothingInFlight();
        await AssertHealthyStream();
    }

    [Fact]
    public async Task PingFlood_ClientNeverReads_OnlyItsOwnConnectionStalls()
    {
        await using var c = await RawH2.ConnectAsync(_epp.Host.GrpcPort, readFrames: false);
        var ping = new MemoryStream();
        for (int i = 0; i < 1000; i++)
            RawH2.Frame(ping, RawH2.Ping, 0, 0, BitConverter.GetBytes((long)i));
        byte[] thousand = ping.ToArray();
        long written = 0;
        bool stalled = false;
        // Write PINGs without ever reading the ACKs: once the socket buffers fill, the server must stop reading this
        // connection (backpressure) rather than queue ACKs without bound. The flood ends when a write blocks.
        for (int i = 0; i < 2000 && !stalled; i++)
        {
            using var blocked = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            try
            {
                await c.WriteAsync(thousand, blocked.Token);
                written += 1000;
            }
            catch (OperationCanceledException)
            {
                stalled = true;
            }
            catch (IOException)
            {
                break; // closed by the server: also bounded
            }
        }
        output.WriteLine($"ping flood: {written:N0} PINGs written before the server stopped reading (stalled: {stalled})");
        Assert.True(stalled || written < 2_000_000, "two million unread PINGs were accepted: nothing bounds the server's ACK queue");
        await AssertHealthyStream(); // other connections are unaffected while this one is stalled
        await AssertNothingInFlight();
    }

    /// <summary>A plaintext HTTP/2 connection driven frame by frame.</summary>
    private sealed class RawH2 : IAsyncDisposable
    {
        public const byte Headers = 1, RstStream = 3, Settings = 4, Ping = 6, GoAway = 7, EndHeaders = 4, Ack = 1;
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly SemaphoreSlim _write = new(1, 1);
        private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private RawH2(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
        }

        public Task Closed => _closed.Task;
        public int? GoAwayCode { get; private set; }
        public int GoAwayLastStream { get; private set; }
        public int RstFrames;

        public static async Task<RawH2> ConnectAsync(int port, bool readFrames = true)
        {
            var tcp = new TcpClient { NoDelay = true };
            await tcp.ConnectAsync("127.0.0.1", port);
            var c = new RawH2(tcp);
            var hello = new MemoryStream();
            hello.Write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8);
            Frame(hello, Settings, 0, 0, []);
            Frame(hello, Settings, Ack, 0, []); // the server's SETTINGS, acknowledged ahead (it only ever sends one)
            await c.WriteAsync(hello.ToArray());
            if (readFrames)
                _ = c.ReadLoopAsync();
            return c;
        }

        public async Task WriteAsync(byte[] data, CancellationToken ct = default)
        {
            await _write.WaitAsync(ct);
            try
            {
                await _stream.WriteAsync(data, ct);
            }
            finally
            {
                _write.Release();
            }
        }

        private async Task ReadLoopAsync()
        {
            var head = new byte[9];
            var payload = new byte[1 << 16];
            try
            {
                while (true)
                {
                    await _stream.ReadExactlyAsync(head);
                    int len = (head[0] << 16) | (head[1] << 8) | head[2];
                    if (len > payload.Length)
                        payload = new byte[len];
                    await _stream.ReadExactlyAsync(payload.AsMemory(0, len));
                    if (head[3] == GoAway && len >= 8)
                    {
                        GoAwayLastStream = BinaryPrimitives.ReadInt32BigEndian(payload) & 0x7fffffff;
                        GoAwayCode = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(4));
                    }
                    else if (head[3] == RstStream)
                    {
                        Interlocked.Increment(ref RstFrames);
                    }
                }
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException)
            {
            }
            _closed.TrySetResult();
        }

        public static void Frame(Stream to, byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
        {
            Span<byte> h = stackalloc byte[9];
            h[0] = (byte)(payload.Length >> 16);
            h[1] = (byte)(payload.Length >> 8);
            h[2] = (byte)payload.Length;
            h[3] = type;
            h[4] = flags;
            BinaryPrimitives.WriteInt32BigEndian(h[5..], streamId);
            to.Write(h);
            to.Write(payload);
        }

        /// <summary>HPACK, no Huffman, no dynamic table: the headers of an ext_proc Process call.</summary>
        public static byte[] GrpcRequestHeaders()
        {
            var b = new MemoryStream();
            b.WriteByte(0x83); // :method POST (static 3)
            b.WriteByte(0x86); // :scheme http (static 6)
            Literal(b, 0x04, null, "/envoy.service.ext_proc.v3.ExternalProcessor/Process"); // :path (static name 4)
            Literal(b, 0x01, null, "localhost"); // :authority (static name 1)
            Literal(b, 0x00, "content-type", "application/grpc");
            Literal(b, 0x00, "te", "trailers");
            return b.ToArray();
        }

        private static void Literal(MemoryStream b, byte first, string? name, string value)
        {
            b.WriteByte(first); // literal without indexing
            if (name is not null)
            {
                b.WriteByte((byte)name.Length);
                b.Write(Encoding.ASCII.GetBytes(name));
            }
            b.WriteByte((byte)value.Length);
            b.Write(Encoding.ASCII.GetBytes(value));
        }

        public ValueTask DisposeAsync()
        {
            _tcp.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
