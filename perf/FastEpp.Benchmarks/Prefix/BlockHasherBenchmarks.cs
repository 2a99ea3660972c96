using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using FastEpp.Prefix;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>Hashing a 100k-token (400 KB) prompt: default cap (256 blocks) and uncapped (6,250 blocks).</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class BlockHasherBenchmarks
{
    private readonly ulong[] _hashes = new ulong[PrefixBenchmarkData.UncappedBlocks];
    private byte[] _prompt = [];

    [GlobalSetup]
    public void Setup() => _prompt = PrefixBenchmarkData.Prompt();

    [Benchmark(Baseline = true), BenchmarkCategory("Cap256")]
    public int Naive_DefaultCap() =>
        NaiveBlockHasher.ComputeChain(PrefixBenchmarkData.Model, [], _prompt, PrefixBenchmarkData.BlockSizeTokens, 256).Count;

    [Benchmark, BenchmarkCategory("Cap256")]
    public int BlockHasher_DefaultCap() =>
        BlockHasher.ComputeChain(PrefixBenchmarkData.Model, default, _prompt, PrefixBenchmarkData.BlockSizeTokens, 256, _hashes);

    [Benchmark(Baseline = true), BenchmarkCategory("Uncapped")]
    public int Naive_Uncapped() =>
        NaiveBlockHasher.ComputeChain(PrefixBenchmarkData.Model, [], _prompt, PrefixBenchmarkData.BlockSizeTokens, int.MaxValue).Count;

    [Benchmark, BenchmarkCategory("Uncapped")]
    public int BlockHasher_Uncapped() =>
        BlockHasher.ComputeChain(PrefixBenchmarkData.Model, default, _prompt, PrefixBenchmarkData.BlockSizeTokens, int.MaxValue, _hashes);
}
