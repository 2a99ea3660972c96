using System.Text;

namespace FastEpp.Metrics;

/// <summary>Why an enabled target produced no value (the reference's error texts, scheduling.md §4.3).</summary>
internal enum MissingReason : byte
{
    None = 0,
    /// <summary><c>metric family "n" not found</c>: neither a sample nor a # TYPE/# HELP line.</summary>
    FamilyNotFound = 1,
    /// <summary><c>no metrics found for "n"</c>: the family is declared but has no sample.</summary>
    NoSamples = 2,
    /// <summary><c>no matching metric found for "n" with labels …</c>.</summary>
    NoMatchingSeries = 3,
}

/// <summary>
/// What one <see cref="PrometheusScanner.Scan"/> found: a plain value, no allocation.
/// <see cref="Describe"/> builds the human text (allocates; called only when a state change is logged).
/// </summary>
internal readonly struct ScrapeReport(MetricFields enabled, MetricFields found, MetricFields invalid, uint reasons, int malformedLines,
    InvalidDetail invalidDetail)
{
    private readonly uint _reasons = reasons; // 4 bits per target

    /// <summary>Targets the engine config asks for.</summary>
    public MetricFields Enabled { get; } = enabled;
    /// <summary>Targets whose series was selected and written into the new metrics.</summary>
    public MetricFields Found { get; } = found;
    /// <summary>Targets whose series was selected but whose value or label was unusable (partly or fully).</summary>
    public MetricFields Invalid { get; } = invalid;
    /// <summary>Enabled targets without a selected series.</summary>
    public MetricFields Missing => Enabled & ~(Found | Invalid);
    /// <summary>Lines naming a searched family that could not be parsed (skipped).</summary>
    public int MalformedLines { get; } = malformedLines;
    public InvalidDetail InvalidDetails { get; } = invalidDetail;
    /// <summary>At least one field was updated: the endpoint's UpdatedAt moved to the scrape time.</summary>
    public bool Updated => Found != MetricFields.None;
    /// <summary>Everything the engine config asks for was found and valid.</summary>
    public bool Complete => Found == Enabled && Invalid == MetricFields.None;

    public MissingReason ReasonFor(int target) => (MissingReason)((_reasons >> (target * 4)) & 0xF);

    /// <summary>A joined error text in the reference's wording, or "" when complete.</summary>
    public string Describe(ScrapePlan plan)
    {
        var sb = new StringBuilder();
        for (int t = 0; t < MetricTarget.Count; t++)
        {
            var spec = plan.Specs[t];
            if (spec is null)
                continue;
            var bit = (MetricFields)(1 << t);
            string? text = null;
            if ((Invalid & bit) != 0)
            {
                text = t switch
                {
                    MetricTarget.Lora when (InvalidDetails & InvalidDetail.MaxLora) != 0 => $"invalid max_lora label on \"{spec.Name}\"",
                    MetricTarget.CacheInfo => $"invalid {((InvalidDetails & InvalidDetail.BlockSizeLabel) != 0 ? plan.BlockSizeLabel : plan.NumBlocksLabel)} label on \"{spec.Name}\"",
                    _ => $"non-finite or out-of-range value for \"{spec}\" ({MetricTarget.Describe(t)})",
                };
            }
            else if ((Found & bit) == 0)
            {
                text = ReasonFor(t) switch
                {
                    MissingReason.FamilyNotFound => $"metric family \"{spec.Name}\" not found",
                    MissingReason.NoSamples => $"no metrics found for \"{spec.Name}\"",
                    _ => t == MetricTarget.Lora
                        ? $"no matching lora metric found for \"{spec}\""
                        : $"no matching metric found for \"{spec}\"",
                };
            }
            if (text is null)
                continue;
            if (sb.Length > 0)
                sb.Append("; ");
            sb.Append(text);
        }
        if (MalformedLines > 0)
        {
            if (sb.Length > 0)
                sb.Append("; ");
            sb.Append(MalformedLines).Append(" malformed line(s) skipped");
        }
        return sb.ToString();
    }
}

/// <summary>Which label of a selected info series was unusable.</summary>
[Flags]
internal enum InvalidDetail : byte
{
    None = 0,
    MaxLora = 1,
    BlockSizeLabel = 2,
    NumBlocksLabel = 4,
}
