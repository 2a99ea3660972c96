using FastEpp.Configuration;

namespace FastEpp.Scheduling.Filters;

/// <summary>
/// <c>prefix-cache-affinity-filter</c>, spec §2.7. ≤ 1 candidate or threshold ≤ 0 → pass all; with
/// probability <c>explorationProbability</c> → pass all; sticky = candidates whose prefix score
/// (match/total) ≥ <c>affinityThreshold</c>; none → pass all; else sticky only. The TTFT-penalty escape
/// (<c>maxTTFTPenaltyMs</c>) compares predicted TTFTs; FastEpp has no predictor, so both groups' best TTFT is
/// +∞ and, as in the reference without predictions, the penalty never triggers.
/// Parameters: affinityThreshold 0.80 (&gt; 1 → error), explorationProbability 0.01 ([0,1]), maxTTFTPenaltyMs 5000 (≥ 0).
/// </summary>
internal sealed class PrefixCacheAffinityFilter : IFilter
{
    private readonly Random _random;

    public PrefixCacheAffinityFilter(string name, double affinityThreshold = 0.80, double explorationProbability = 0.01,
        double maxTtftPenaltyMs = 5000, Random? random = null)
    {
        Name = name;
        AffinityThreshold = affinityThreshold;
        ExplorationProbability = explorationProbability;
        MaxTtftPenaltyMs = maxTtftPenaltyMs;
        _random = random ?? Random.Shared;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("prefix-cache-affinity-filter", Create);

    public string TypeName => Type.Name;

    private static PrefixCacheAffinityFilter Create(string name, PluginParameters p, PluginContext c)
    {
        double threshold = p.GetDouble("affinityThreshold", 0.80);
        double exploration = p.GetDouble("explorationProbability", 0.01);
        double penalty = p.GetDouble("maxTTFTPenaltyMs", 5000);
        if (threshold > 1)
            throw new ConfigException($"affinityThreshold must be <= 1, got {threshold}");
        if (exploration is < 0 or > 1)
            throw new ConfigException($"explorationProbability must be in [0, 1], got {exploration}");
        if (penalty < 0)
            throw new ConfigException($"maxTTFTPenaltyMs must be >= 0, got {penalty}");
        return new PrefixCacheAffinityFilter(name, threshold, exploration, penalty, c.Random);
    }

    public string Name { get; }

    public double AffinityThreshold { get; }

    public double ExplorationProbability { get; }

    public double MaxTtftPenaltyMs { get; }

    public int Filter(in SchedulingContext ctx, Span<int> candidates)
    {
        if (candidates.Length <= 1 || AffinityThreshold <= 0)
            return candidates.Length;
        if (ExplorationProbability > 0 && _random.NextDouble() < ExplorationProbability)
            return candidates.Length;
        RequestScratch scratch = ctx.Scratch;
        int sticky = 0;
        foreach (int c in candidates)
        {
            if (scratch.PrefixScore(c) >= AffinityThreshold)
                sticky++;
        }
        if (sticky == 0)
            return candidates.Length;
        int n = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            int c = candidates[i];
            if (scratch.PrefixScore(c) >= AffinityThreshold)
                candidates[n++] = c;
        }
        return n;
    }
}
