using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using FastEpp.Prefix;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>
/// Match against a populated index (PrefixBenchmarkData.Populate) at 8/100/1000 endpoints, all of them
/// candidates: the 256-block chain (default cap), the uncapped 6,250-block chain, and the whole per-request
/// cost for a 100k-token prompt (hash with the default cap + match). Baseline: the reference-shaped naive index.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class PrefixIndexMatchBenchmarks
{
    private readonly ulong[] _scratchHashes = new ulong[256];
    private byte[] _prompt = [];
    private ulong[] _probe = [];
    private ulong[] _uncapped = [];
    private int[] _ids = [];
    private int[] _counts = [];
    private PrefixIndex _index = null!;
    private NaivePrefixIndex _naive = null!;

    [Params(8, 100, 1000)]
    public int Endpoints { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _prompt = PrefixBenchmarkData.Prompt();
        _probe = PrefixBenchmarkData.Chain(_prompt, 256);
        _uncapped = PrefixBenchmarkData.Chain(_prompt, int.MaxValue);
        _index = new PrefixIndex();
        _naive = new NaivePrefixIndex();
        _ids = PrefixBenchmarkData.Populate(Endpoints, _probe, _uncapped, _index, _naive);
        _counts = new int[_ids.Length];
        Console.WriteLine($"// PrefixIndex: {Endpoints} endpoints, {_index.EntryCount} entries, {_index.DistinctHashCount} distinct hashes, " +
            $"{_index.ApproximateBytes} bytes ({(double)_index.ApproximateBytes / _index.EntryCount:F1} B/entry)");
        if (_index.Match(_probe, _ids, _counts) != _probe.Length || _counts[0] != _probe.Length)
            throw new InvalidOperationException("populated index does not hold the probe chain");
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Match256")]
    public int Naive_Match256() => _naive.Match(_probe, _ids, _counts);

    [Benchmark, BenchmarkCategory("Match256")]
    public int PrefixIndex_Match256() => _index.Match(_probe, _ids, _counts);

    [Benchmark(Baseline = true), BenchmarkCategory("MatchUncapped")]
    public int Naive_MatchUncapped() => _naive.Match(_uncapped, _ids, _counts);

    [Benchmark, BenchmarkCategory("MatchUncapped")]
    public int PrefixIndex_MatchUncapped() => _index.Match(_uncapped, _ids, _counts);

    [Benchmark(Baseline = true), BenchmarkCategory("HashAndMatch100kTokens")]
    public int Naive_HashAndMatch()
    {
        List<ulong> hashes = NaiveBlockHasher.ComputeChain(PrefixBenchmarkData.Model, [], _prompt, PrefixBenchmarkData.BlockSizeTokens, 256);
        return _naive.Match(hashes.ToArray(), _ids, _counts);
    }

    [Benchmark, BenchmarkCategory("HashAndMatch100kTokens")]
    public int PrefixIndex_HashAndMatch()
    {
        int n = BlockHasher.ComputeChain(PrefixBenchmarkData.Model, default, _prompt, PrefixBenchmarkData.BlockSizeTokens, 256, _scratchHashes);
        return _index.Match(_scratchHashes.AsSpan(0, n), _ids, _counts);
    }
}
