using System.Text;

namespace FastEpp.Metrics;

/// <summary>
/// A compiled <see cref="EngineConfig"/>: the parsed specs of one dialect indexed by
/// <see cref="MetricTarget"/>, and the distinct family names the <see cref="PrometheusScanner"/>
/// searches for (several targets may read the same family, e.g. Triton). Immutable.
/// </summary>
internal sealed class ScrapePlan
{
    // A spec label set is matched with a bit mask per target.
    private const int MaxSpecLabels = 32;

    private ScrapePlan(string name, MetricSpec?[] specs, string blockSizeLabel, string numBlocksLabel)
    {
        Name = name;
        Specs = specs;
        BlockSizeLabel = blockSizeLabel;
        NumBlocksLabel = numBlocksLabel;
        BlockSizeLabelUtf8 = Encoding.UTF8.GetBytes(blockSizeLabel);
        NumBlocksLabelUtf8 = Encoding.UTF8.GetBytes(numBlocksLabel);

        var groups = new List<FamilyGroup>();
        for (int t = 0; t < specs.Length; t++)
        {
            var spec = specs[t];
            if (spec is null)
                continue;
            Enabled |= (MetricFields)(1 << t);
            int existing = groups.FindIndex(g => g.Name == spec.Name);
            if (existing >= 0)
                groups[existing] = groups[existing] with { TargetMask = groups[existing].TargetMask | (1 << t) };
            else
                groups.Add(new FamilyGroup(spec.Name, spec.NameUtf8, 1 << t, HasChildSuffix(spec.Name)));
        }
        Families = groups.ToArray();
    }

    public string Name { get; }
    /// <summary>Specs by <see cref="MetricTarget"/> index; null = disabled.</summary>
    public MetricSpec?[] Specs { get; }
    public MetricFields Enabled { get; }
    public string BlockSizeLabel { get; }
    public string NumBlocksLabel { get; }
    public byte[] BlockSizeLabelUtf8 { get; }
    public byte[] NumBlocksLabelUtf8 { get; }
    /// <summary>Distinct family names to search, each with the targets it feeds.</summary>
    internal FamilyGroup[] Families { get; }

    /// <summary>Compiles <paramref name="config"/>; every spec error is collected.</summary>
    public static bool TryCreate(EngineConfig config, out ScrapePlan? plan, out List<string> errors)
    {
        var errorList = new List<string>();
        errors = errorList;
        plan = null;
        var specs = new MetricSpec?[MetricTarget.Count];
        Parse(config.QueuedRequestsSpec, "queuedRequestsSpec", MetricTarget.Queued);
        Parse(config.RunningRequestsSpec, "runningRequestsSpec", MetricTarget.Running);
        Parse(config.KvUsageSpec, "kvUsageSpec", MetricTarget.KvUsage);
        Parse(config.LoraSpec, "loraSpec", MetricTarget.Lora);
        Parse(config.CacheInfoSpec, "cacheInfoSpec", MetricTarget.CacheInfo);
        Parse(config.CacheBlockSizeSpec, "cacheBlockSizeSpec", MetricTarget.BlockSizeGauge);
        Parse(config.CacheNumBlocksSpec, "cacheNumBlocksSpec", MetricTarget.NumBlocksGauge);
        if (errors.Count > 0)
            return false;
        plan = new ScrapePlan(
            config.Name,
            specs,
            string.IsNullOrEmpty(config.CacheBlockSizeLabelName) ? EngineConfig.DefaultBlockSizeLabel : config.CacheBlockSizeLabelName,
            string.IsNullOrEmpty(config.CacheNumBlocksLabelName) ? EngineConfig.DefaultNumBlocksLabel : config.CacheNumBlocksLabelName);
        return true;

        void Parse(string? text, string field, int target)
        {
            if (!MetricSpec.TryParse(text, out var spec, out var error))
                errorList.Add($"{field}: {error}");
            else if (spec is not null && spec.Labels.Length > MaxSpecLabels)
                errorList.Add($"{field}: more than {MaxSpecLabels} label matchers");
            else
                specs[target] = spec;
        }
    }

    /// <summary>Compiles a configuration known to be valid (built-ins, tests); throws otherwise.</summary>
    public static ScrapePlan Create(EngineConfig config) =>
        TryCreate(config, out var plan, out var errors)
            ? plan!
            : throw new FormatException($"engine config \"{config.Name}\": {string.Join("; ", errors)}");

    // A name ending like a histogram/summary child series may belong to another family.
    private static bool HasChildSuffix(string name) =>
        name.EndsWith("_bucket", StringComparison.Ordinal) || name.EndsWith("_sum", StringComparison.Ordinal)
        || name.EndsWith("_count", StringComparison.Ordinal) || name.EndsWith("_gsum", StringComparison.Ordinal)
        || name.EndsWith("_gcount", StringComparison.Ordinal);

    public override string ToString() => Name;

    internal readonly record struct FamilyGroup(string Name, byte[] NameUtf8, int TargetMask, bool NeedsChildCheck);
}
