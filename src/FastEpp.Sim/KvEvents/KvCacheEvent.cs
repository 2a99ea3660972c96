namespace FastEpp.Sim.KvEvents;

/// <summary>
/// One vLLM KV-cache event (<c>vllm/distributed/kv_events.py</c>): <see cref="BlockStored"/>,
/// <see cref="BlockRemoved"/> or <see cref="AllBlocksCleared"/>. Built by the engine, encoded by the publisher thread.
/// </summary>
internal abstract class KvCacheEvent
{
}

/// <summary>
/// Full blocks of one request committed to the prefix cache in one engine step: their chained hashes, the hash of
/// the block before the first one (null at position 0), and the token ids of all those blocks, in order.
/// </summary>
internal sealed class BlockStored : KvCacheEvent
{
    public required ulong[] BlockHashes { get; init; }

    public required ulong? ParentBlockHash { get; init; }

    /// <summary>BlockHashes.Length × BlockSize token ids.</summary>
    public required uint[] TokenIds { get; init; }

    public required int BlockSize { get; init; }

    /// <summary>vLLM's (deprecated) LoRA int id, null for the base model.</summary>
    public int? LoraId { get; init; }

    /// <summary>The adapter name (vLLM's <c>lora_name</c>), null for the base model; also every block's extra key.</summary>
    public string? LoraName { get; init; }

    /// <summary>Storage tier: always "GPU" in the simulator.</summary>
    public string Medium { get; init; } = KvEventEncoder.MediumGpu;
}

/// <summary>A cached block's hash dropped (its block was reused for other content).</summary>
internal sealed class BlockRemoved : KvCacheEvent
{
    public required ulong[] BlockHashes { get; init; }

    public string Medium { get; init; } = KvEventEncoder.MediumGpu;
}

/// <summary>The whole prefix cache was reset (POST /reset_prefix_cache).</summary>
internal sealed class AllBlocksCleared : KvCacheEvent
{
    /// <summary>The one instance (the event has no fields).</summary>
    public static readonly AllBlocksCleared Instance = new();
}

/// <summary>The events of one engine step (vLLM's <c>KVEventBatch</c>): a Unix timestamp and the events in order.</summary>
internal sealed class KvEventBatch
{
    public required double Timestamp { get; init; }

    public required List<KvCacheEvent> Events { get; init; }

    /// <summary>vLLM's <c>data_parallel_rank</c> (the publisher fills 0 for rank 0).</summary>
    public int DataParallelRank { get; init; }
}
