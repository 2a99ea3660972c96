namespace FastEpp.Tests.Prefix;

/// <summary>Random block-hash chains shaped like real traffic: families share prefixes, tails are unique.</summary>
internal static class TestChains
{
    public static ulong[][] Build(Random rng, int chainCount, int families)
    {
        ulong[][] prefixes = new ulong[families][];
        for (int f = 0; f < families; f++)
        {
            prefixes[f] = new ulong[5 + rng.Next(20)];
            for (int i = 0; i < prefixes[f].Length; i++)
                prefixes[f][i] = (ulong)rng.NextInt64();
        }
        prefixes[0][0] = 0; // the zero hash takes a special path in the table

        var chains = new ulong[chainCount][];
        for (int c = 0; c < chainCount; c++)
        {
            ulong[] prefix = prefixes[rng.Next(families)];
            int shared = rng.Next(prefix.Length + 1);
            int tail = 1 + rng.Next(30);
            var chain = new ulong[shared + tail];
            Array.Copy(prefix, chain, shared);
            for (int i = shared; i < chain.Length; i++)
                chain[i] = (ulong)rng.NextInt64();
            chains[c] = chain;
        }
        return chains;
    }
}
