using FastEpp.Observability;

namespace FastEpp.Prefix.Precise;

/// <summary>What the precise producer counts, exported as <c>fastepp_precise_prefix_total{event="…"}</c>.</summary>
internal enum PreciseEvent
{
    /// <summary>KV-event batches applied.</summary>
    Batches,
    /// <summary>Events applied (BlockStored + BlockRemoved + AllBlocksCleared).</summary>
    Events,
    /// <summary>An endpoint's entries were cleared because its sequence numbers jumped or went back (missed batches, restart).</summary>
    SequenceGaps,
    /// <summary>An endpoint's entries were cleared by AllBlocksCleared.</summary>
    AllBlocksCleared,
    /// <summary>An endpoint's entries were cleared because its event stream disconnected (the engine may have restarted).</summary>
    Disconnects,
    /// <summary>Batches or messages that could not be decoded (dropped).</summary>
    Malformed,
    /// <summary>BlockStored events whose parent block is unknown (dropped, as llm-d does).</summary>
    UnknownParent,
    /// <summary>BlockStored events whose block size differs from the configured one (dropped).</summary>
    BlockSizeMismatch,
    /// <summary>BlockStored events for another tier (CPU/storage offload) or a non-full-attention group (not indexed).</summary>
    Skipped,
    /// <summary>Requests scored from the approximate index because tokenization failed or timed out.</summary>
    TokenizeFallback,
    /// <summary>Per request and endpoint: scored from the approximate index because the endpoint has no live KV-event stream.</summary>
    NoStreamFallback,
    /// <summary>Requests tokenized by the model server.</summary>
    Tokenized,
    /// <summary>Central mode: batches whose topic pod-id names no endpoint of the pool (not indexed).</summary>
    UnknownPod,
    /// <summary>Batches applied from an engine's replay socket (missed batches recovered instead of clearing).</summary>
    ReplayedBatches,
    /// <summary>Replays that failed (unreachable, malformed, incomplete, older than the engine's buffer allows): the endpoint was cleared instead.</summary>
    ReplayFailures,
}

/// <summary>Counters of the precise producer; mirrored into <see cref="EppMetrics"/> when exported.</summary>
internal sealed class PreciseCounters
{
    private static readonly string[] s_names =
    [
        "batches", "events", "sequence_gaps", "all_blocks_cleared", "disconnects", "malformed", "unknown_parent",
        "block_size_mismatch", "skipped", "tokenize_fallback", "no_stream_fallback", "tokenized",
        "unknown_pod", "replayed_batches", "replay_failures",
    ];

    private readonly long[] _values = new long[s_names.Length];
    private readonly ValueCell?[] _cells = new ValueCell?[s_names.Length];

    public PreciseCounters(EppMetrics? metrics = null)
    {
        if (metrics is null)
            return;
        for (int i = 0; i < s_names.Length; i++)
            _cells[i] = metrics.PrecisePrefix(s_names[i]);
    }

    public static string NameOf(PreciseEvent e) => s_names[(int)e];

    public void Add(PreciseEvent e, long n = 1)
    {
        Interlocked.Add(ref _values[(int)e], n);
        _cells[(int)e]?.Add(n);
    }

    public long this[PreciseEvent e] => Interlocked.Read(ref _values[(int)e]);
}
