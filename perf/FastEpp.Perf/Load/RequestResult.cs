namespace FastEpp.Perf.Load;

/// <summary>What one request measured (seconds relative to the run start; latencies in seconds).</summary>
internal struct RequestResult
{
    public int Stage;
    public double SentAt;
    public double FinishedAt;
    /// <summary>Time to the first content token; NaN when none arrived.</summary>
    public double Ttft;
    public double E2e;
    public int PromptTokens;
    public int CachedTokens;
    public int OutputTokens;
    /// <summary>HTTP status (0 = transport error or cancelled).</summary>
    public int Status;
    public bool Ok;

    /// <summary>Time per output token after the first; NaN with fewer than 2 tokens.</summary>
    public readonly double Tpot => OutputTokens > 1 && !double.IsNaN(Ttft) ? (E2e - Ttft) / (OutputTokens - 1) : double.NaN;
}
