namespace FastEpp.Metrics;

/// <summary>The endpoint fields a <see cref="ScrapePlan"/> can extract (scheduling.md §4.3), one bit each.</summary>
[Flags]
internal enum MetricFields
{
    None = 0,
    /// <summary>queuedRequestsSpec → WaitingQueueSize.</summary>
    Queued = 1 << MetricTarget.Queued,
    /// <summary>runningRequestsSpec → RunningRequestsSize.</summary>
    Running = 1 << MetricTarget.Running,
    /// <summary>kvUsageSpec → KvCacheUsagePercent.</summary>
    KvUsage = 1 << MetricTarget.KvUsage,
    /// <summary>loraSpec → ActiveModels, WaitingModels, MaxActiveModels.</summary>
    Lora = 1 << MetricTarget.Lora,
    /// <summary>cacheInfoSpec → CacheBlockSize, CacheNumBlocks from labels.</summary>
    CacheInfo = 1 << MetricTarget.CacheInfo,
    /// <summary>cacheBlockSizeSpec → CacheBlockSize from a gauge.</summary>
    BlockSizeGauge = 1 << MetricTarget.BlockSizeGauge,
    /// <summary>cacheNumBlocksSpec → CacheNumBlocks from a gauge.</summary>
    NumBlocksGauge = 1 << MetricTarget.NumBlocksGauge,
}

/// <summary>Indices of the extraction targets (bit positions of <see cref="MetricFields"/>).</summary>
internal static class MetricTarget
{
    public const int Queued = 0;
    public const int Running = 1;
    public const int KvUsage = 2;
    public const int Lora = 3;
    public const int CacheInfo = 4;
    public const int BlockSizeGauge = 5;
    public const int NumBlocksGauge = 6;
    public const int Count = 7;

    public static string Describe(int target) => target switch
    {
        Queued => "queuedRequests",
        Running => "runningRequests",
        KvUsage => "kvUsage",
        Lora => "lora",
        CacheInfo => "cacheInfo",
        BlockSizeGauge => "cacheBlockSize",
        NumBlocksGauge => "cacheNumBlocks",
        _ => "unknown",
    };
}
