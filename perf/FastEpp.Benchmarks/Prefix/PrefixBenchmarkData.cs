using FastEpp.Prefix;

namespace FastEpp.Benchmarks.Prefix;

/// <summary>
/// Shared inputs: a 100k-token (400 KB) prompt, its chains with the default cap (256 blocks) and uncapped
/// (6,250 blocks), and a populated index pair (FastEpp and the naive baseline) holding the same entries.
/// </summary>
internal static class PrefixBenchmarkData
{
    public const int BlockSizeTokens = 16;
    public const int PromptBytes = 100_000 * PrefixCacheParameters.CharactersPerToken;
    public const int UncappedBlocks = PromptBytes / (BlockSizeTokens * PrefixCacheParameters.CharactersPerToken);
    public const int Families = 8;
    public const int FamilyPrefixBlocks = 192;
    public const int RequestsPerEndpoint = 8;

    public static readonly byte[] Model = "meta-llama/Llama-3.1-8B-Instruct"u8.ToArray();

    public static byte[] Prompt()
    {
        // Printable ASCII like a real prompt; the content does not change hashing speed.
        var bytes = new byte[PromptBytes];
        var rng = new Random(42);
        for (int i = 0; i < bytes.Length; i++)
            bytes[i] = (byte)rng.Next(32, 127);
        return bytes;
    }

    public static ulong[] Chain(byte[] prompt, int maxBlocks)
    {
        var hashes = new ulong[BlockHasher.BlockCount(prompt.Length, BlockSizeTokens, maxBlocks)];
        BlockHasher.ComputeChain(Model, default, prompt, BlockSizeTokens, maxBlocks, hashes);
        return hashes;
    }

    /// <summary>
    /// Populates both indexes the same way: 8 prompt families of 192 shared blocks (family 0 = the first 192
    /// blocks of <paramref name="probe"/>); endpoint e sends 8 requests of families e and e+1 with unique
    /// 64-block tails, so each family prefix is held by about a quarter of the endpoints. Endpoint 1 also holds
    /// the whole <paramref name="probe"/> and <paramref name="uncapped"/> chains.
    /// </summary>
    public static int[] Populate(int endpoints, ulong[] probe, ulong[] uncapped, PrefixIndex index, NaivePrefixIndex naive)
    {
        var rng = new Random(7);
        var families = new ulong[Families][];
        for (int f = 0; f < Families; f++)
            families[f] = f == 0 ? probe[..FamilyPrefixBlocks] : RandomHashes(rng, FamilyPrefixBlocks);

        var ids = new int[endpoints];
        var chain = new ulong[FamilyPrefixBlocks + 64];
        for (int e = 0; e < endpoints; e++)
        {
            int id = e + 1;
            ids[e] = id;
            for (int r = 0; r < RequestsPerEndpoint; r++)
            {
                families[(e + (r & 1)) % Families].CopyTo(chain, 0);
                for (int i = FamilyPrefixBlocks; i < chain.Length; i++)
                    chain[i] = (ulong)rng.NextInt64();
                Record(chain, id);
            }
        }
        Record(uncapped, 1);
        Record(probe, 1);
        return ids;

        void Record(ulong[] hashes, int id)
        {
            index.Record(hashes, id, PrefixCacheParameters.DefaultLruCapacityPerServer);
            naive.Record(hashes, id, PrefixCacheParameters.DefaultLruCapacityPerServer);
        }
    }

    public static ulong[] RandomHashes(Random rng, int count)
    {
        var hashes = new ulong[count];
        for (int i = 0; i < count; i++)
            hashes[i] = (ulong)rng.NextInt64();
        return hashes;
    }
}
