using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>prefix-cache-scorer</c> (Affinity). matchBlocks / totalBlocks from <c>approx-prefix-cache-producer</c>;
/// 0 when no producer data or totalBlocks = 0. Parameters are accepted and ignored, as in the reference
/// (prefix settings belong to the producer, which is auto-created when only this scorer is declared).
/// </summary>
internal sealed class PrefixCacheScorer(string name) : Plugin(name), IScorer
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("prefix-cache-scorer", static (n, _, _) => new PrefixCacheScorer(n));

    public override string TypeName => Type.Name;

    public ScorerCategory Category => ScorerCategory.Affinity;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        RequestScratch scratch = ctx.Scratch;
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = scratch.PrefixScore(candidates[i]);
    }
}
