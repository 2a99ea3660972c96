using FastEpp.Plugins;

namespace FastEpp.Scheduling.Scorers;

/// <summary><c>kv-cache-utilization-scorer</c> (Distribution, no parameters): 1 − KvCacheUsagePercent (a fraction).</summary>
internal sealed class KvCacheUtilizationScorer : IScorer
{
    public KvCacheUtilizationScorer(string name) => Name = name;

    public string TypeName => PluginTypes.KvCacheUtilizationScorer;

    public string Name { get; }

    public ScorerCategory Category => ScorerCategory.Distribution;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        var endpoints = ctx.Snapshot.Endpoints;
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = 1 - endpoints[candidates[i]].State.Metrics.KvCacheUsagePercent;
    }
}
