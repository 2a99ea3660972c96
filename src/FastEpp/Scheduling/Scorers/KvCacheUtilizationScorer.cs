using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary><c>kv-cache-utilization-scorer</c> (Distribution, no parameters): 1 − KvCacheUsagePercent (a fraction).</summary>
internal sealed class KvCacheUtilizationScorer(string name) : Plugin(name), IScorer
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("kv-cache-utilization-scorer", static (n, _, _) => new KvCacheUtilizationScorer(n));

    public override string TypeName => Type.Name;

    public ScorerCategory Category => ScorerCategory.Distribution;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        var endpoints = ctx.Snapshot.Endpoints;
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = 1 - endpoints[candidates[i]].State.Metrics.KvCacheUsagePercent;
    }
}
