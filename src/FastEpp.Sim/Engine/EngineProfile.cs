namespace FastEpp.Sim.Engine;

/// <summary>
/// The physics and limits of one simulated engine (one vLLM server). Immutable; flags override a
/// built-in profile with <c>with</c>. Step time of one engine iteration, in milliseconds:
/// <code>
/// step = StepOverheadMs + DecodeMsPerSeq·B + KvReadMsPerToken·ΣC
///      + max(0, PrefillMsPerToken·P + AttentionMsPerTokenPair·Σ(n·c + n²/2) − PrefillHiddenMs)
///      + LoRA load time of adapters first used in this step
/// </code>
/// B = decode sequences in the step, ΣC = their context tokens, P = prefill tokens scheduled in the step,
/// and each prefill chunk of n tokens starting at context c contributes n·c + n²/2 attention pairs.
/// The weight-read floor (StepOverheadMs) hides up to PrefillHiddenMs of prefill compute.
/// Source of the defaults: ../../shared/notes/h100-calibration.md (measured on one H100).
/// </summary>
internal sealed record EngineProfile
{
    /// <summary>Profile name as given to <c>--profile</c>.</summary>
    public required string Name { get; init; }

    /// <summary>Served model name when <c>--model</c> is not given.</summary>
    public required string DefaultModel { get; init; }

    /// <summary>Fixed cost of every step: the weight read (memory-bound floor), ms.</summary>
    public double StepOverheadMs { get; init; }

    /// <summary>Cost per prefill token (linear compute term), ms.</summary>
    public double PrefillMsPerToken { get; init; }

    /// <summary>Prefill compute that overlaps the weight-read floor (so a short prefill costs about one decode step), ms.</summary>
    public double PrefillHiddenMs { get; init; }

    /// <summary>Attention cost per (new token × context token) pair during prefill, ms.</summary>
    public double AttentionMsPerTokenPair { get; init; }

    /// <summary>Cost per decoding sequence in the step, ms.</summary>
    public double DecodeMsPerSeq { get; init; }

    /// <summary>Cost per context token read by decoding sequences (KV read), ms.</summary>
    public double KvReadMsPerToken { get; init; }

    /// <summary>Tokens per KV block (vLLM <c>--block-size</c>).</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>KV blocks on the GPU (vLLM <c>num_gpu_blocks</c>).</summary>
    public int NumGpuBlocks { get; init; }

    /// <summary>Maximum running sequences per step (vLLM <c>--max-num-seqs</c>).</summary>
    public int MaxNumSeqs { get; init; }

    /// <summary>Token budget of one step (vLLM <c>--max-num-batched-tokens</c>).</summary>
    public int MaxNumBatchedTokens { get; init; }

    /// <summary>Prompt + output tokens allowed per request (vLLM <c>--max-model-len</c>).</summary>
    public int MaxModelLen { get; init; }

    /// <summary>Adapters resident on the GPU at once (vLLM <c>--max-loras</c>).</summary>
    public int MaxLoras { get; init; } = 1;

    /// <summary>Time to bring a non-resident adapter onto the GPU; paid by the step that first uses it, ms.</summary>
    public double LoraLoadMs { get; init; } = 20;

    /// <summary>Automatic prefix caching (vLLM <c>--enable-prefix-caching</c>, on by default in V1).</summary>
    public bool EnablePrefixCaching { get; init; } = true;

    /// <summary>Waiting-queue bound; a request beyond it is answered 429. 0 = unbounded.</summary>
    public int MaxWaiting { get; init; }

    /// <summary>Step time in seconds for one step's composition.</summary>
    public double StepSeconds(long prefillTokens, double attentionPairs, int decodeSeqs, long decodeContextTokens, double loraLoadMs)
    {
        double ms = StepOverheadMs + DecodeMsPerSeq * decodeSeqs + KvReadMsPerToken * decodeContextTokens;
        if (prefillTokens > 0)
        {
            ms += Math.Max(0, PrefillMsPerToken * prefillTokens + AttentionMsPerTokenPair * attentionPairs - PrefillHiddenMs);
        }
        return (ms + loraLoadMs) / 1000.0;
    }

    /// <summary>
    /// Llama-3-8B shape on one H100 80GB, bf16 (the default). Decode fit: 6.17 + 0.0080·B + 4.17e-5·ΣC ms;
    /// prefill fit 1.1 + 0.0214·N + 4.1e-7·N² ms (so attention = 8.2e-7 per pair, and 6.17 − 1.1 = 5.07 ms hides
    /// under the floor); 28.6k blocks of 16 (~458k tokens with ~60 GB for KV). Limits: vLLM V1 server defaults.
    /// </summary>
    public static EngineProfile H100Llama8B { get; } = new()
    {
        Name = "h100-llama8b",
        DefaultModel = "meta-llama/Llama-3.1-8B-Instruct",
        StepOverheadMs = 6.17,
        PrefillMsPerToken = 0.0214,
        PrefillHiddenMs = 5.07,
        AttentionMsPerTokenPair = 8.2e-7,
        DecodeMsPerSeq = 0.0080,
        KvReadMsPerToken = 4.17e-5,
        NumGpuBlocks = 28_600,
        MaxNumSeqs = 1024,
        MaxNumBatchedTokens = 8192,
        MaxModelLen = 131_072,
    };

    /// <summary>
    /// Qwen3-32B, TP2 on two H100s, per ../../shared/spec/anchors.md §4.2 and §1.4: peak prefill 15,928 tok/s
    /// (0.0628 ms/token); weight floor ≈ 32 GB per GPU at the 8B profile's effective ~2.6 TB/s ≈ 12.3 ms plus TP
    /// all-reduce (12.5 ms); KV 256 KiB/token split over 2 GPUs = 128 KiB per GPU, the same per-GPU read cost as
    /// the 8B profile; attention 2× the 8B per-GPU pair cost (4× the FLOPs, halved by TP2); 307,328 KV tokens per
    /// instance (19,208 blocks, llm-d measurements); max-num-seqs 1024 and max-model-len 16,000 (GIE manifests).
    /// </summary>
    public static EngineProfile H100Qwen32BTp2 { get; } = new()
    {
        Name = "h100-qwen3-32b-tp2",
        DefaultModel = "Qwen/Qwen3-32B",
        StepOverheadMs = 12.5,
        PrefillMsPerToken = 0.0628,
        PrefillHiddenMs = 10.0,
        AttentionMsPerTokenPair = 1.64e-6,
        DecodeMsPerSeq = 0.012,
        KvReadMsPerToken = 4.2e-5,
        NumGpuBlocks = 19_208,
        MaxNumSeqs = 1024,
        MaxNumBatchedTokens = 8192,
        MaxModelLen = 16_000,
    };

    /// <summary>Looks a built-in profile up by name (case-insensitive); null when unknown.</summary>
    public static EngineProfile? Find(string name)
    {
        if (string.Equals(name, H100Llama8B.Name, StringComparison.OrdinalIgnoreCase) || string.Equals(name, "default", StringComparison.OrdinalIgnoreCase))
        {
            return H100Llama8B;
        }
        return string.Equals(name, H100Qwen32BTp2.Name, StringComparison.OrdinalIgnoreCase) ? H100Qwen32BTp2 : null;
    }
}
