namespace FastEpp.Endpoints;

/// <summary>
/// What a model server last reported about its load (spec scheduling.md §4.4). A plain value:
/// the metrics poller writes a whole new value, readers copy it out of <see cref="EndpointState"/>
/// without locks. <see cref="UpdatedAt"/> is <c>default</c> until the first successful scrape —
/// unlike the reference we never pretend such an endpoint is idle (see docs/compatibility.md).
/// </summary>
public readonly record struct EndpointMetrics
{
    public int WaitingQueueSize { get; init; }
    public int RunningRequestsSize { get; init; }
    /// <summary>KV-cache usage as a fraction 0..1.</summary>
    public double KvCacheUsagePercent { get; init; }
    public int MaxActiveModels { get; init; }
    /// <summary>Running LoRA adapters; an immutable array shared between scrapes while unchanged.</summary>
    public string[]? ActiveModels { get; init; }
    /// <summary>Waiting LoRA adapters; an immutable array shared between scrapes while unchanged.</summary>
    public string[]? WaitingModels { get; init; }
    public int CacheBlockSize { get; init; }
    public int CacheNumBlocks { get; init; }
    /// <summary>When a scrape last updated at least one field; default = never.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    public bool IsFresh => UpdatedAt != default;
}
