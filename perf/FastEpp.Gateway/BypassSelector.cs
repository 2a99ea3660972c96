namespace FastEpp.Gateway;

/// <summary>
/// Which requests bypass the EPP (<see cref="GatewayOptions.BypassFraction"/>): a request is bypassed when a uniform
/// draw in [0, 1) hashed from the seed and its x-request-id is below the fraction. The same seed and ids give the same
/// bypassed requests in every routing mode and run, whatever the arrival order (the perf suite numbers its requests in
/// x-request-id). Without an id the gateway's arrival number is the key instead.
/// </summary>
internal static class BypassSelector
{
    /// <summary>True when the request with this id is bypassed.</summary>
    public static bool IsBypassed(int seed, double fraction, ReadOnlySpan<char> requestId) =>
        fraction > 0 && Draw(seed, requestId) < fraction;

    /// <summary>True when the request with this arrival number (no x-request-id) is bypassed.</summary>
    public static bool IsBypassed(int seed, double fraction, long arrival) =>
        fraction > 0 && Unit(Mix(Start(seed) ^ (ulong)arrival)) < fraction;

    /// <summary>The request's uniform draw in [0, 1): FNV-1a over the id's UTF-16 units, seeded, then a SplitMix64 finaliser.</summary>
    public static double Draw(int seed, ReadOnlySpan<char> requestId)
    {
        ulong h = Start(seed);
        foreach (char c in requestId)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return Unit(Mix(h));
    }

    private static ulong Start(int seed) => 14695981039346656037UL ^ ((ulong)(uint)seed * 0x9E3779B97F4A7C15UL);

    private static ulong Mix(ulong h)
    {
        h ^= h >> 30;
        h *= 0xBF58476D1CE4E5B9UL;
        h ^= h >> 27;
        h *= 0x94D049BB133111EBUL;
        h ^= h >> 31;
        return h;
    }

    private static double Unit(ulong h) => (h >> 11) * (1.0 / (1UL << 53));
}
