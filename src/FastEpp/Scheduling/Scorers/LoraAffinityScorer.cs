using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>lora-affinity-scorer</c> (Affinity, no parameters), spec §5.1, first matching rule per endpoint:
/// target ∈ ActiveModels → 1.0; |Active| + |Waiting| &lt; MaxActiveModels → 0.8; target ∈ WaitingModels → 0.6;
/// else 0. Target = the request's post-rewrite model.
/// </summary>
internal sealed class LoraAffinityScorer(string name) : Plugin(name), IScorer
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("lora-affinity-scorer", static (n, _, _) => new LoraAffinityScorer(n));

    public override string TypeName => Type.Name;

    public ScorerCategory Category => ScorerCategory.Affinity;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        var endpoints = ctx.Snapshot.Endpoints;
        string target = ctx.Request.TargetModel;
        for (int i = 0; i < candidates.Length; i++)
        {
            var m = endpoints[candidates[i]].State.Metrics;
            string[]? active = m.ActiveModels;
            string[]? waiting = m.WaitingModels;
            int activeCount = active?.Length ?? 0;
            int waitingCount = waiting?.Length ?? 0;
            if (active is not null && Contains(active, target))
                scores[i] = 1.0;
            else if (activeCount + waitingCount < m.MaxActiveModels)
                scores[i] = 0.8;
            else if (waiting is not null && Contains(waiting, target))
                scores[i] = 0.6;
            else
                scores[i] = 0;
        }
    }

    private static bool Contains(string[] models, string target)
    {
        foreach (string m in models)
        {
            if (string.Equals(m, target, StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}
