using System.Text.Json.Serialization;

namespace FastEpp.Perf.Report;

/// <summary>Mean and percentiles of one latency (seconds).</summary>
internal sealed class Percentiles
{
    public double Mean { get; set; } = double.NaN;
    public double P50 { get; set; } = double.NaN;
    public double P90 { get; set; } = double.NaN;
    public double P99 { get; set; } = double.NaN;
}

/// <summary>Results of one load stage (or of the whole run).</summary>
internal sealed class StageReport
{
    public int Stage { get; set; }
    public double OfferedRate { get; set; }
    public double Seconds { get; set; }
    public int Sent { get; set; }
    public int Completed { get; set; }
    public int Errors { get; set; }
    public Percentiles Ttft { get; set; } = new();
    public Percentiles Tpot { get; set; } = new();
    public Percentiles E2e { get; set; } = new();
    /// <summary>Output tokens of the stage's requests ÷ (last completion − stage start).</summary>
    public double OutputTokensPerSecond { get; set; }
    public double RequestsPerSecond { get; set; }
    /// <summary>Client-side: cached prompt tokens ÷ prompt tokens, from usage.prompt_tokens_details.</summary>
    public double CachedTokenFraction { get; set; } = double.NaN;
}

/// <summary>One routing mode of a comparison.</summary>
internal sealed class ModeReport
{
    public string Mode { get; set; } = "";
    public string Description { get; set; } = "";
    public List<StageReport> Stages { get; set; } = new();
    public StageReport Overall { get; set; } = new();
    /// <summary>Token-weighted prefix-cache hit rate from the fleet's vllm:prefix_cache_* counters.</summary>
    public double PrefixCacheHitRate { get; set; } = double.NaN;
    public double Preemptions { get; set; } = double.NaN;
    public double EppCpuSeconds { get; set; } = double.NaN;
    public double EppCpuMsPerRequest { get; set; } = double.NaN;
    public double EppRssMiB { get; set; } = double.NaN;
    public double EppPeakRssMiB { get; set; } = double.NaN;
    public long GatewayFallbacks { get; set; }
    public long GatewayEppErrors { get; set; }
    /// <summary>EPP processes of this mode (active-active); its EPP CPU and RSS figures are sums over them.</summary>
    public int EppReplicas { get; set; }
    /// <summary>Requests that bypassed the EPP / oracle and went round robin (--bypass-fraction).</summary>
    public long GatewayBypassed { get; set; }
    /// <summary>ext_proc streams per EPP address (several with --epp-replicas).</summary>
    public Dictionary<string, long> PerEpp { get; set; } = new();
    /// <summary>The in-process picker's (oracle's) decision wall time per request, mean and max, ms (NaN for other modes).</summary>
    public double PickMeanMs { get; set; } = double.NaN;
    public double PickMaxMs { get; set; } = double.NaN;
    public Dictionary<string, long> PerUpstream { get; set; } = new();
    /// <summary>The TTFT CDF of the completed requests: (TTFT s, fraction ≤ it), at most ~200 points.</summary>
    public List<CdfPoint> TtftCdf { get; set; } = new();
    /// <summary>Per-replica state sampled from the in-process fleet once a second during the run.</summary>
    public List<ReplicaSample> Timeline { get; set; } = new();
}

/// <summary>One point of a CDF.</summary>
internal sealed class CdfPoint
{
    public double Seconds { get; set; }
    public double Fraction { get; set; }
}

/// <summary>One replica's engine state at one instant of a run (the report's per-replica timelines).</summary>
internal sealed class ReplicaSample
{
    /// <summary>Seconds since the mode's load started.</summary>
    public double T { get; set; }
    public int Replica { get; set; }
    public int Waiting { get; set; }
    public int Running { get; set; }
    /// <summary>KV blocks in use ÷ blocks, 0..1.</summary>
    public double KvUsage { get; set; }
    /// <summary>Prefix-cache hit rate (hit ÷ queried tokens) over the last 5 samples; NaN when nothing was queried.</summary>
    public double PrefixHitRate { get; set; } = double.NaN;
}

/// <summary>A routing-mode comparison (summary.json).</summary>
internal sealed class CompareReport
{
    public string Kind { get; set; } = "compare";
    public string Workload { get; set; } = "";
    public string Source { get; set; } = "";
    public string Parameters { get; set; } = "";
    public string StartedUtc { get; set; } = "";
    public double Scale { get; set; }
    public double DurationScale { get; set; }
    public int Replicas { get; set; }
    public int Seed { get; set; }
    public string SimArgs { get; set; } = "";
    public string EppBinary { get; set; } = "";
    /// <summary>EPP replicas per EPP mode (--epp-replicas / fleet.epp_replicas).</summary>
    public int EppReplicas { get; set; } = 1;
    /// <summary>Share of requests bypassing the EPP and the oracle (--bypass-fraction / fleet.bypass_fraction).</summary>
    public double BypassFraction { get; set; }
    public string Machine { get; set; } = "";
    public List<ModeReport> Modes { get; set; } = new();
}

/// <summary>One concurrency level of the overhead harness.</summary>
internal sealed class OverheadRow
{
    public int Concurrency { get; set; }
    public Percentiles BaselineTtft { get; set; } = new();
    public Percentiles EppTtft { get; set; } = new();
    public double AddedTtftMeanMs { get; set; }
    public double AddedTtftP50Ms { get; set; }
    public double BaselineRequestsPerSecond { get; set; }
    public double EppRequestsPerSecond { get; set; }
    public double EppCpuMsPerRequest { get; set; } = double.NaN;
    public int BaselineErrors { get; set; }
    public int EppErrors { get; set; }
    /// <summary>GIE #2928 reference (EPP v1.5.0 + Istio): TTFT mean ms and req/s at this concurrency, NaN when not published.</summary>
    public double ReferenceTtftMeanMs { get; set; } = double.NaN;
    public double ReferenceRequestsPerSecond { get; set; } = double.NaN;
}

/// <summary>The overhead harness (overhead.json).</summary>
internal sealed class OverheadReport
{
    public string Kind { get; set; } = "overhead";
    public string StartedUtc { get; set; } = "";
    public int PromptBytes { get; set; }
    public int OutputTokens { get; set; }
    public double SecondsPerLevel { get; set; }
    public string EppBinary { get; set; } = "";
    public string EppArgs { get; set; } = "";
    public string Machine { get; set; } = "";
    public double EppPeakRssMiB { get; set; } = double.NaN;
    public List<OverheadRow> Rows { get; set; } = new();
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(CompareReport))]
[JsonSerializable(typeof(OverheadReport))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;
