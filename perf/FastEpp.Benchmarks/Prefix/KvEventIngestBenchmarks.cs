using System.Text;
using BenchmarkDotNet.Attributes;
using FastEpp.Prefix.Precise;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>
/// KV-event ingestion of the precise-prefix-cache-producer (Prefix/Precise), one vLLM batch per invocation, in steady
/// state: each batch holds a BlockStored of 4 new 16-token blocks chained to the previous batch's last block (parent
/// resolved through the engine→key map) and a BlockRemoved of 4 blocks stored 512 batches earlier, so the index and
/// the map stay the same size. "Decode" is the msgpack decoding alone; "Apply" is the sequence check, decoding,
/// FastEpp's key computation over the token ids and the index writes. 2 events per batch: events/s per core =
/// 2 / (time per batch). MemoryDiagnoser shows the bytes per batch once warm (0 is the claim).
/// </summary>
[MemoryDiagnoser]
public class KvEventIngestBenchmarks
{
    private const int Batches = 1024;
    private const int BlocksPerStore = 4;
    private const int BlockSize = 16;

    private byte[][] _payloads = [];
    private KvEventIngestor _ingestor = null!;
    private KvEventDecoder _decoder = null!;
    private PreciseIndex _index = null!;
    private EndpointStream _stream = null!;
    private readonly byte[] _topic = Encoding.UTF8.GetBytes("kv@10.0.0.5:8000@Qwen/Qwen3-32B");
    private ulong _seq;
    private int _next;
    private KvEventSubscriptions _central = null!;
    private ZmtpSubscriber _centralConnection = null!;
    private ulong _centralSeq;

    private sealed class NullSink : IKvEventSink
    {
        public long Seen;

        public void BlockStored(in BlockStoredEvent e) => Seen += e.EngineHashes.Length;

        public void BlockRemoved(ReadOnlySpan<ulong> engineHashes, ReadOnlySpan<byte> medium) => Seen += engineHashes.Length;

        public void AllBlocksCleared() => Seen++;
    }

    private readonly NullSink _sink = new();

    [GlobalCleanup]
    public void Cleanup() => _central.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [GlobalSetup]
    public void Setup()
    {
        _payloads = new byte[Batches][];
        for (int j = 0; j < Batches; j++)
        {
            var w = new Writer();
            w.Array(3).Float64(1789095808.8378847 + j).Array(2);
            // BlockStored (legacy array form, as vLLM ≤ 0.25 sends it), engine hashes as uint64.
            w.Array(11).Str("BlockStored").Array(BlocksPerStore);
            for (int b = 1; b <= BlocksPerStore; b++)
                w.UInt(0x9E3779B97F4A7C15UL * (ulong)(BlocksPerStore * j + b));
            if (j % 64 == 0) w.Nil(); else w.UInt(0x9E3779B97F4A7C15UL * (ulong)(BlocksPerStore * j));
            w.Array(BlocksPerStore * BlockSize);
            for (int t = 0; t < BlocksPerStore * BlockSize; t++)
                w.UInt((ulong)(100 + (j * 131 + t * 7) % 150_000));
            w.UInt(BlockSize).Nil().Str("GPU").Nil().Array(BlocksPerStore);
            for (int b = 0; b < BlocksPerStore; b++) w.Nil();
            w.UInt(0).Str("full_attention");
            // BlockRemoved of the batch 512 earlier.
            int old = (j - 512 + Batches) % Batches;
            w.Array(4).Str("BlockRemoved").Array(BlocksPerStore);
            for (int b = 1; b <= BlocksPerStore; b++)
                w.UInt(0x9E3779B97F4A7C15UL * (ulong)(BlocksPerStore * old + b));
            w.Str("GPU").UInt(0);
            w.UInt(0);
            _payloads[j] = w.ToArray();
        }
        _index = new PreciseIndex(1 << 20);
        _ingestor = new KvEventIngestor(_index, BlockSize, TokenBlockKeys.Root(""u8), new PreciseCounters());
        _decoder = new KvEventDecoder();
        _stream = new EndpointStream(1, "10.0.0.5:8000");
        // Central mode: a publisher connection (never started: the benchmark calls its handler as the receive loop would),
        // attributed by its topic pod-id to the pool's endpoint 10.0.0.5:8000.
        var centralIndex = new PreciseIndex(1 << 20);
        _central = new KvEventSubscriptions(centralIndex, BlockSize, TokenBlockKeys.Root(""u8), 1, 5557, "kv@"u8, new PreciseCounters(),
            discoverPods: false, centralHost: "127.0.0.1", centralPort: 0);
        _central.Reconcile(new FastEpp.Endpoints.EndpointSnapshot([new FastEpp.Endpoints.Endpoint("ns/a", "a", "10.0.0.5", 8000, 8000)], 1));
        _centralConnection = new ZmtpSubscriber(new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp),
            "kv@"u8, _central, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeSpan.FromSeconds(10));
        _centralConnection.Tag = _central.NewCentralConnection(_centralConnection);
        // Two laps: every array has grown and the map and index are at their steady size.
        for (int i = 0; i < 2 * Batches; i++)
        {
            ApplyBatch();
            _next = (_next - 1) & (Batches - 1);
            ApplyBatchCentral();
        }
        if (centralIndex.KeyCount != _index.KeyCount)
            throw new InvalidOperationException($"the central path indexed {centralIndex.KeyCount} keys, the direct one {_index.KeyCount}: the connection was not attributed");
        Console.WriteLine($"// steady state: {_index.KeyCount} keys, {(double)_index.ApproximateBytes / _index.KeyCount:F1} B/key, payload {_payloads[1].Length} B/batch");
    }

    [Benchmark(Description = "Apply one batch (BlockStored 4×16 tokens + BlockRemoved 4)")]
    public void ApplyBatch()
    {
        _ingestor.Apply(_stream, _topic, _seq++, _payloads[_next]);
        _next = (_next + 1) & (Batches - 1);
    }

    [Benchmark(Description = "Central mode (zmqEndpoint): the same batch through the listener's handler (topic pod-id → endpoint, cached)")]
    public void ApplyBatchCentral()
    {
        _central.OnMessage(_centralConnection, _topic, _centralSeq++, _payloads[_next]);
        _next = (_next + 1) & (Batches - 1);
    }

    [Benchmark(Description = "Decode one batch")]
    public int DecodeBatch()
    {
        int n = _decoder.Decode(_payloads[_next], _sink);
        _next = (_next + 1) & (Batches - 1);
        return n;
    }

    /// <summary>A minimal msgpack writer (msgspec's smallest-width choices) for the fixtures.</summary>
    private sealed class Writer
    {
        private readonly List<byte> _b = [];

        public byte[] ToArray() => [.. _b];

        public Writer Array(int n)
        {
            if (n < 16) _b.Add((byte)(0x90 | n));
            else { _b.Add(0xdc); _b.Add((byte)(n >> 8)); _b.Add((byte)n); }
            return this;
        }

        public Writer Nil()
        {
            _b.Add(0xc0);
            return this;
        }

        public Writer Str(string s)
        {
            byte[] x = Encoding.UTF8.GetBytes(s);
            _b.Add((byte)(0xa0 | x.Length));
            _b.AddRange(x);
            return this;
        }

        public Writer UInt(ulong v)
        {
            if (v < 128) { _b.Add((byte)v); return this; }
            int n = v <= byte.MaxValue ? 1 : v <= ushort.MaxValue ? 2 : v <= uint.MaxValue ? 4 : 8;
            _b.Add(n switch { 1 => 0xcc, 2 => 0xcd, 4 => 0xce, _ => 0xcf });
            for (int i = n - 1; i >= 0; i--) _b.Add((byte)(v >> (8 * i)));
            return this;
        }

        public Writer Float64(double d)
        {
            _b.Add(0xcb);
            ulong bits = BitConverter.DoubleToUInt64Bits(d);
            for (int i = 7; i >= 0; i--) _b.Add((byte)(bits >> (8 * i)));
            return this;
        }
    }
}
