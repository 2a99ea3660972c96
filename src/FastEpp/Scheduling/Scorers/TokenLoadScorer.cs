using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>token-load-scorer</c> (Distribution). t = in-flight tokens of the endpoint (from
/// <c>inflight-load-producer</c>, 0 when absent); t ≤ 0 → 1, else 1 − min(t, T)/T with
/// T = <c>queueThresholdTokens</c> (4,194,304; ≤ 0 → default).
/// </summary>
internal sealed class TokenLoadScorer : IScorer
{
    public const long DefaultQueueThresholdTokens = 4_194_304;

    public TokenLoadScorer(string name, long queueThresholdTokens = DefaultQueueThresholdTokens)
    {
        Name = name;
        QueueThresholdTokens = queueThresholdTokens <= 0 ? DefaultQueueThresholdTokens : queueThresholdTokens;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("token-load-scorer", static (n, p, _) => new TokenLoadScorer(n, p.GetLong("queueThresholdTokens", DefaultQueueThresholdTokens)));

    public string TypeName => Type.Name;

    public string Name { get; }

    public long QueueThresholdTokens { get; }

    public ScorerCategory Category => ScorerCategory.Distribution;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        RequestScratch scratch = ctx.Scratch;
        double threshold = QueueThresholdTokens;
        for (int i = 0; i < candidates.Length; i++)
        {
            long t = scratch.HasInFlightData ? scratch.InFlightTokens(candidates[i]) : 0;
            scores[i] = t <= 0 ? 1.0 : 1.0 - Math.Min(t, QueueThresholdTokens) / threshold;
        }
    }
}
