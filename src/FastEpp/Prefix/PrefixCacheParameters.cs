namespace FastEpp.Prefix;

/// <summary>
/// Defaults and derived values of the <c>approx-prefix-cache-producer</c> parameters
/// (spec scheduling.md §3.2–§3.3). Pure functions; config binding lives with the plugin.
/// </summary>
internal static class PrefixCacheParameters
{
    /// <summary>Characters (bytes) per token used to turn a block size in tokens into bytes.</summary>
    public const int CharactersPerToken = 4;

    public const bool DefaultAutoTune = true;

    public const int DefaultBlockSizeTokens = 16;

    public const int DefaultMaxPrefixBlocksToMatch = 256;

    /// <summary>Per-endpoint LRU capacity when the model server does not report CacheNumBlocks (or autoTune is off).</summary>
    public const int DefaultLruCapacityPerServer = 31_250;

    /// <summary>
    /// §3.3 step 1: the model server's CacheBlockSize when autoTune is on and the first candidate reports one,
    /// else the configured <paramref name="blockSizeTokens"/>.
    /// </summary>
    public static int EffectiveBlockSizeTokens(bool autoTune, int blockSizeTokens, int firstCandidateCacheBlockSize) =>
        autoTune && firstCandidateCacheBlockSize > 0 ? firstCandidateCacheBlockSize : blockSizeTokens;

    /// <summary>
    /// §3.3 step 2: <paramref name="maxPrefixBlocksToMatch"/>, overridden by
    /// <c>maxPrefixTokensToMatch / effectiveBlockSizeTokens</c> (integer division) when that parameter is &gt; 0.
    /// A non-positive block size yields 0 (the reference would divide by zero; no hashes are produced then anyway).
    /// </summary>
    public static int MaxBlocks(int maxPrefixBlocksToMatch, int maxPrefixTokensToMatch, int effectiveBlockSizeTokens)
    {
        if (maxPrefixTokensToMatch > 0)
            return effectiveBlockSizeTokens > 0 ? maxPrefixTokensToMatch / effectiveBlockSizeTokens : 0;
        return Math.Max(0, maxPrefixBlocksToMatch);
    }

    /// <summary>
    /// §3.5: LRU capacity of an endpoint, fixed when its LRU is created: CacheNumBlocks when autoTune is on and
    /// the server reports it, else 31,250. (<c>lruCapacityPerServer</c> is dead in the reference, §3.2.)
    /// </summary>
    public static int ServerCapacity(bool autoTune, int cacheNumBlocks) =>
        autoTune && cacheNumBlocks > 0 ? cacheNumBlocks : DefaultLruCapacityPerServer;
}
