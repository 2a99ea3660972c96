using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>running-requests-size-scorer</c> (Distribution, no parameters): the queue-scorer formula on
/// RunningRequestsSize: max == min → 1, else (max − r) / (max − min) over the candidates.
/// </summary>
internal sealed class RunningRequestsSizeScorer(string name) : Plugin(name), IScorer
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("running-requests-size-scorer", static (n, _, _) => new RunningRequestsSizeScorer(n));

    public override string TypeName => Type.Name;

    public ScorerCategory Category => ScorerCategory.Distribution;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        var endpoints = ctx.Snapshot.Endpoints;
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = endpoints[candidates[i]].State.Metrics.RunningRequestsSize;
        MinMax.Invert(scores);
    }
}
