using System.Threading.Channels;

namespace FastEpp.Sim.Engine;

/// <summary>Lifecycle of a simulated request.</summary>
internal enum RequestState
{
    /// <summary>Submitted, not yet admitted at a step boundary, or waiting (also after a preemption).</summary>
    Waiting,
    /// <summary>In the running batch (prefilling or decoding).</summary>
    Running,
    /// <summary>All tokens generated.</summary>
    Finished,
    /// <summary>Cancelled by the client or dropped by a replica kill.</summary>
    Aborted,
}

/// <summary>
/// One request inside an engine. The engine fields are written only by the engine (under the replica lock);
/// the HTTP side reads <see cref="Generated"/> and <see cref="State"/> (volatile) after a progress signal.
/// </summary>
internal sealed class SimRequest
{
    private readonly Channel<bool>? _progress;
    private int _signalPending;
    private volatile int _generated;
    private volatile RequestState _state;

    /// <summary>Creates a request. <paramref name="observable"/> adds the progress channel the HTTP handler waits on.</summary>
    public SimRequest(long id, int promptTokens, ulong[] blockHashes, int maxTokens, int adapter = -1, bool observable = false)
    {
        Id = id;
        PromptTokens = promptTokens;
        BlockHashes = blockHashes;
        MaxTokens = Math.Max(1, maxTokens);
        Adapter = adapter;
        if (observable)
        {
            _progress = Channel.CreateUnbounded<bool>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        }
    }

    /// <summary>Per-replica request number.</summary>
    public long Id { get; }

    /// <summary>Prompt length in tokens.</summary>
    public int PromptTokens { get; }

    /// <summary>Chained hashes of the full prompt blocks.</summary>
    public ulong[] BlockHashes { get; }

    /// <summary>Tokens to generate.</summary>
    public int MaxTokens { get; }

    /// <summary>LoRA adapter index, or -1 for the base model.</summary>
    public int Adapter { get; }

    /// <summary>The prompt's token ids, kept only when the engine publishes KV events (BlockStored carries them); else null.</summary>
    public uint[]? TokenIds { get; init; }

    /// <summary>The adapter's name (vLLM's lora_name), or null for the base model.</summary>
    public string? AdapterName { get; init; }

    /// <summary>True when the request ends on a simulated end-of-sequence (finish_reason "stop") rather than max_tokens.</summary>
    public bool EndsWithStop { get; init; }

    /// <summary>Tokens generated so far (only grows, also across preemptions).</summary>
    public int Generated { get => _generated; internal set => _generated = value; }

    /// <summary>Current state.</summary>
    public RequestState State { get => _state; internal set => _state = value; }

    /// <summary>Simulated arrival time, s.</summary>
    public double ArrivalTime { get; internal set; }

    /// <summary>Start of the step that first scheduled it, s (NaN until then).</summary>
    public double FirstScheduledTime { get; internal set; } = double.NaN;

    /// <summary>End of the step that produced the first token, s (NaN until then).</summary>
    public double FirstTokenTime { get; internal set; } = double.NaN;

    /// <summary>End of the step that produced the latest token, s.</summary>
    public double LastTokenTime { get; internal set; } = double.NaN;

    /// <summary>End of the step that produced the last token, s (NaN until then).</summary>
    public double FinishTime { get; internal set; } = double.NaN;

    /// <summary>Prompt tokens served from the prefix cache at the first scheduling.</summary>
    public int CachedTokens { get; internal set; } = -1;

    /// <summary>Times this request was preempted (recompute).</summary>
    public int Preemptions { get; internal set; }

    // ---- engine-only bookkeeping ----
    internal int Computed;          // tokens whose KV is in the cache
    internal int Scheduled;         // tokens scheduled in the step in flight (0 = not in it)
    internal bool AbortRequested;   // abort arrived while the request was in the step in flight
    internal int[] Blocks = [];
    internal int BlockCount;
    internal int HashedBlocks;      // leading blocks registered in the prefix cache

    /// <summary>Tokens known so far (prompt + generated): what a (re)compute must cover.</summary>
    internal int TotalTokens => PromptTokens + Generated;

    /// <summary>Engine side: tells the waiter there is progress (coalesced: at most one pending wake).</summary>
    internal void Signal()
    {
        if (_progress is not null && Interlocked.Exchange(ref _signalPending, 1) == 0)
        {
            _progress.Writer.TryWrite(true);
        }
    }

    /// <summary>HTTP side: waits for progress, then the caller reads <see cref="Generated"/> and <see cref="State"/>.</summary>
    public async ValueTask WaitForProgressAsync(CancellationToken cancellationToken)
    {
        if (_progress is null)
        {
            throw new InvalidOperationException("request was not created observable");
        }
        await _progress.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        // Full fence: a signal raised after this reset wakes the next wait, so no progress is missed.
        Interlocked.Exchange(ref _signalPending, 0);
    }
}
