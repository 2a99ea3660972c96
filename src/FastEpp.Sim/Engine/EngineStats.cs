namespace FastEpp.Sim.Engine;

/// <summary>Counters and histograms of one engine, in simulated seconds. Written by the engine, read under the replica lock.</summary>
internal sealed class EngineStats
{
    /// <summary>Prompt tokens of requests that produced their first token (vllm:prompt_tokens_total).</summary>
    public long PromptTokens;

    /// <summary>Generated tokens (vllm:generation_tokens_total).</summary>
    public long GenerationTokens;

    /// <summary>Tokens looked up in the prefix cache at scheduling (vllm:prefix_cache_queries_total).</summary>
    public long PrefixQueries;

    /// <summary>Tokens found in the prefix cache (vllm:prefix_cache_hits_total).</summary>
    public long PrefixHits;

    /// <summary>Preemptions (vllm:num_preemptions_total).</summary>
    public long Preemptions;

    /// <summary>Requests finished because max_tokens was reached.</summary>
    public long FinishedLength;

    /// <summary>Requests finished by a (simulated) end-of-sequence token.</summary>
    public long FinishedStop;

    /// <summary>Requests aborted.</summary>
    public long Aborted;

    /// <summary>Calls to Submit, accepted or not (the oracle's in-transit bookkeeping).</summary>
    public long SubmitCalls;

    /// <summary>Engine steps run.</summary>
    public long Steps;

    /// <summary>Simulated time the engine spent in steps, s.</summary>
    public double BusySeconds;

    /// <summary>Time to first token.</summary>
    public Histogram Ttft { get; } = new(Histogram.TtftBounds);

    /// <summary>Gap between consecutive output tokens of a request (inter-token latency).</summary>
    public Histogram Itl { get; } = new(Histogram.TpotBounds);

    /// <summary>Arrival to last token.</summary>
    public Histogram E2e { get; } = new(Histogram.RequestBounds);

    /// <summary>Arrival to first scheduling.</summary>
    public Histogram Queue { get; } = new(Histogram.RequestBounds);
}
