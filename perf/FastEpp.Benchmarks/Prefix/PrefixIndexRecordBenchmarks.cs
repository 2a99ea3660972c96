using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using FastEpp.Prefix;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>
/// Record of one 256-block request on an index of 100 endpoints whose LRUs are full (default capacity
/// 31,250): "New" = 256 unseen hashes (256 insertions + 256 evictions), "Existing" = a hot chain already held
/// (256 move-to-front, no membership change). Baseline: the reference-shaped naive index.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class PrefixIndexRecordBenchmarks
{
    private const int Endpoints = 100;
    private const int Capacity = PrefixCacheParameters.DefaultLruCapacityPerServer;
    private const int ChainPool = 512;   // 512 × 256 = 131k distinct hashes per endpoint > capacity: steady eviction

    private ulong[][] _chains = [];
    private ulong[] _hot = [];
    private PrefixIndex _index = null!;
    private NaivePrefixIndex _naive = null!;
    private int _nextIndex;
    private int _nextNaive;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(11);
        _chains = new ulong[ChainPool][];
        for (int i = 0; i < ChainPool; i++)
            _chains[i] = PrefixBenchmarkData.RandomHashes(rng, 256);
        _hot = PrefixBenchmarkData.RandomHashes(rng, 256);
        _index = new PrefixIndex();
        _naive = new NaivePrefixIndex();
        // Fill every LRU to capacity with a rotating mix of the pool, so records evict from the start.
        for (int e = 1; e <= Endpoints; e++)
        {
            for (int r = 0; r < Capacity / 256 + 1; r++)
            {
                ulong[] chain = _chains[(e * 7 + r) % ChainPool];
                _index.Record(chain, e, Capacity);
                _naive.Record(chain, e, Capacity);
            }
            _index.Record(_hot, e, Capacity);
            _naive.Record(_hot, e, Capacity);
        }
        Console.WriteLine($"// Record setup: {_index.EntryCount} entries, {(double)_index.ApproximateBytes / _index.EntryCount:F1} B/entry");
    }

    [Benchmark(Baseline = true), BenchmarkCategory("New")]
    public void Naive_RecordNew()
    {
        int i = _nextNaive++;
        _naive.Record(_chains[i % ChainPool], 1 + i % Endpoints, Capacity);
    }

    [Benchmark, BenchmarkCategory("New")]
    public void PrefixIndex_RecordNew()
    {
        int i = _nextIndex++;
        _index.Record(_chains[i % ChainPool], 1 + i % Endpoints, Capacity);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Existing")]
    public void Naive_RecordExisting() => _naive.Record(_hot, 1 + (_nextNaive++ % Endpoints), Capacity);

    [Benchmark, BenchmarkCategory("Existing")]
    public void PrefixIndex_RecordExisting() => _index.Record(_hot, 1 + (_nextIndex++ % Endpoints), Capacity);
}
