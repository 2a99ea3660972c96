using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>queue-scorer</c> (Distribution, no parameters): q = WaitingQueueSize; over the current candidates,
/// max == min → 1 for all, else (max − q) / (max − min). Reads metrics as of the request (no staleness check).
/// </summary>
internal sealed class QueueScorer(string name) : Plugin(name), IScorer
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("queue-scorer", static (n, _, _) => new QueueScorer(n));

    public override string TypeName => Type.Name;

    public ScorerCategory Category => ScorerCategory.Distribution;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        var endpoints = ctx.Snapshot.Endpoints;
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = endpoints[candidates[i]].State.Metrics.WaitingQueueSize;
        MinMax.Invert(scores);
    }
}
