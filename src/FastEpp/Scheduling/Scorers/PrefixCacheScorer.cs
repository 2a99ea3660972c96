using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>prefix-cache-scorer</c> (Affinity). matchBlocks / totalBlocks from the prefix-match producer
/// (<c>approx-prefix-cache-producer</c> or <c>precise-prefix-cache-producer</c>); 0 when no producer data or
/// totalBlocks = 0. Other parameters are accepted and ignored, as in the reference (prefix settings belong to the
/// producer, which is auto-created when only this scorer is declared). llm-d's <c>prefixMatchInfoProducerName</c>
/// is checked at load: it must name the configured producer (ConfigLoader).
/// </summary>
internal sealed class PrefixCacheScorer(string name, string producerName = "") : Plugin(name), IScorer
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("prefix-cache-scorer",
        static (n, p, _) => new PrefixCacheScorer(n, p.GetString("prefixMatchInfoProducerName", "")));

    /// <summary>llm-d's <c>prefixMatchInfoProducerName</c> ("" = whichever producer is configured).</summary>
    public string ProducerName { get; } = producerName;

    public override string TypeName => Type.Name;

    public ScorerCategory Category => ScorerCategory.Affinity;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        RequestScratch scratch = ctx.Scratch;
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = scratch.PrefixScore(candidates[i]);
    }
}
