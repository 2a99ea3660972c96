using System.Globalization;

namespace FastEpp.Perf.Workloads;

/// <summary>One load stage: Poisson arrivals at <see cref="Rate"/> requests/s for <see cref="Seconds"/>.</summary>
internal readonly record struct Stage(double Rate, double Seconds);

/// <summary>How arrivals are spread within a stage (inference-perf <c>load.type</c>).</summary>
internal enum ArrivalKind
{
    /// <summary>A Poisson process at the stage rate.</summary>
    Poisson,
    /// <summary>Exactly floor(rate × duration) requests, exponential gaps rescaled to fill the stage (inference-perf's constant timer).</summary>
    Constant,
}

/// <summary>How a token length is drawn.</summary>
internal enum LengthKind
{
    Fixed,
    /// <summary>Normal(mean A, std-dev B) clamped to [Min, Max] (inference-perf's "normal" distribution).</summary>
    Normal,
    /// <summary>Uniform integer in [Min, Max].</summary>
    Uniform,
}

/// <summary>A token-length distribution.</summary>
internal readonly record struct LengthDist(LengthKind Kind, double Mean, double StdDev, int Min, int Max)
{
    public static LengthDist Fixed(int n) => new(LengthKind.Fixed, n, 0, n, n);
    public static LengthDist Normal(double mean, double sd, int min, int max) => new(LengthKind.Normal, mean, sd, min, max);
    public static LengthDist Uniform(int min, int max) => new(LengthKind.Uniform, (min + max) / 2.0, 0, min, max);

    public int Sample(Random r)
    {
        switch (Kind)
        {
            case LengthKind.Fixed:
                return Min;
            case LengthKind.Uniform:
                return r.Next(Min, Max + 1);
            default:
                // Box-Muller
                double u1 = 1.0 - r.NextDouble(), u2 = r.NextDouble();
                double z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
                return (int)Math.Clamp(Math.Round(Mean + StdDev * z), Min, Max);
        }
    }

    public override string ToString() => Kind switch
    {
        LengthKind.Fixed => Min.ToString(CultureInfo.InvariantCulture),
        LengthKind.Uniform => string.Create(CultureInfo.InvariantCulture, $"U[{Min}, {Max}]"),
        _ => string.Create(CultureInfo.InvariantCulture, $"N({Mean}, {StdDev}) in [{Min}, {Max}]"),
    };
}

/// <summary>
/// A benchmark workload with the exact parameters of GIE's inference-perf values files (anchors.md §1.4), and the
/// simulated fleet it is meant for. <see cref="Scale"/> shrinks it for a 2-core machine.
/// </summary>
internal sealed record WorkloadSpec
{
    public required string Name { get; init; }
    /// <summary>Where the parameters come from.</summary>
    public required string Source { get; init; }
    /// <summary>Shared-prefix groups (0 = no shared prefix: every prompt is fresh random text).</summary>
    public int Groups { get; init; }
    /// <summary>Prompts (users / conversations) per group.</summary>
    public int PromptsPerGroup { get; init; }
    /// <summary>System prompt (shared prefix) tokens; a distribution is drawn once per group.</summary>
    public LengthDist SystemPrompt { get; init; } = LengthDist.Fixed(0);
    /// <summary>Chat (messages) or completion (prompt) API.</summary>
    public bool Chat { get; init; } = true;
    /// <summary>Arrival process within a stage.</summary>
    public ArrivalKind Arrivals { get; init; } = ArrivalKind.Poisson;
    /// <summary>Idle seconds between stages (inference-perf <c>load.interval</c>).</summary>
    public double StageGap { get; init; }
    /// <summary>Seed of the prompt text (inference-perf <c>data.shared_prefix.seed</c>); null = the run's seed.</summary>
    public int? DataSeed { get; init; }
    /// <summary>Question (or whole input, when Groups = 0) tokens.</summary>
    public required LengthDist Question { get; init; }
    public required LengthDist Output { get; init; }
    /// <summary>Multi-turn chat: each prompt is a conversation whose history grows.</summary>
    public bool MultiTurn { get; init; }
    public required Stage[] Stages { get; init; }
    /// <summary>Client-side cap on requests in flight (inference-perf worker_max_concurrency).</summary>
    public int MaxConcurrency { get; init; } = 1000;
    /// <summary>LoRA adapters and their traffic shares (empty = base model only).</summary>
    public string[] Adapters { get; init; } = [];
    public double[] AdapterWeights { get; init; } = [];
    /// <summary>Sim profile (engine physics).</summary>
    public string SimProfile { get; init; } = "h100-qwen3-32b-tp2";
    /// <summary>Replicas of the reference setup.</summary>
    public int Replicas { get; init; } = 8;
    /// <summary>Extra fastepp-sim flags (LoRA slots...).</summary>
    public string[] SimArgs { get; init; } = [];
    /// <summary>EPP replicas, active-active, in every EPP mode (fleet.epp_replicas; never scaled).</summary>
    public int EppReplicas { get; init; } = 1;
    /// <summary>Share of requests that bypass the EPP (and the oracle) and go round robin (fleet.bypass_fraction; never scaled).</summary>
    public double BypassFraction { get; init; }
    /// <summary>Scale factor applied (1 = the reference parameters).</summary>
    public double AppliedScale { get; init; } = 1;
    public double AppliedDurationScale { get; init; } = 1;

    /// <summary>Total stage seconds.</summary>
    public double TotalSeconds
    {
        get
        {
            double s = 0;
            foreach (Stage st in Stages)
                s += st.Seconds;
            return s;
        }
    }

    /// <summary>
    /// Shrinks the workload while keeping its shape: arrival rates, shared-prefix groups, replicas and the
    /// concurrency cap scale by <paramref name="scale"/> (so load per replica and the prefix working set per
    /// replica's KV cache stay as in the reference); stage lengths scale by <paramref name="durationScale"/>.
    /// Token lengths are never scaled (they decide prefill cost and cache pressure).
    /// </summary>
    public WorkloadSpec Scale(double scale, double durationScale)
    {
        var stages = new Stage[Stages.Length];
        for (int i = 0; i < stages.Length; i++)
            stages[i] = new Stage(Stages[i].Rate * scale, Math.Max(1, Stages[i].Seconds * durationScale));
        return this with
        {
            StageGap = StageGap * durationScale,
            Stages = stages,
            Groups = Groups == 0 ? 0 : Math.Max(1, (int)Math.Round(Groups * scale)),
            Replicas = Math.Max(2, (int)Math.Round(Replicas * scale)),
            MaxConcurrency = Math.Max(16, (int)Math.Round(MaxConcurrency * scale)),
            AppliedScale = AppliedScale * scale,
            AppliedDurationScale = AppliedDurationScale * durationScale,
        };
    }
}
