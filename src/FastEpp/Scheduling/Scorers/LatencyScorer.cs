using FastEpp.Configuration;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>latency-scorer</c> (Balance). FastEpp has no latency predictor, so no endpoint ever carries a
/// prediction and the reference always takes its composite fallback (spec §2.6 step 1): weights
/// (kv, queue, prefix) normalised by their sum (sum ≤ 0 → kv = 1, others 0); maxQ = max queue over the
/// candidates; relQueue = maxQ == 0 ? 1 : (maxQ − q)/maxQ; kvFree = 1 − kv; prefix = match/total;
/// score = round(100 · (wkv·kvFree + wq·relQueue + wp·prefix)) / 100.
/// Parameters: ttftWeight 0.8, tpotWeight 0.2, headroomSelectionStrategy least|most (validated, unused
/// without predictions), compositeKVWeight 1, compositeQueueWeight 1, compositePrefixWeight 1.
/// </summary>
internal sealed class LatencyScorer : IScorer
{
    private readonly double _wkv;
    private readonly double _wq;
    private readonly double _wp;

    public LatencyScorer(string name, double kvWeight = 1, double queueWeight = 1, double prefixWeight = 1)
    {
        Name = name;
        double sum = kvWeight + queueWeight + prefixWeight;
        if (sum <= 0)
        {
            _wkv = 1;
        }
        else
        {
            _wkv = kvWeight / sum;
            _wq = queueWeight / sum;
            _wp = prefixWeight / sum;
        }
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("latency-scorer", Create);

    public string TypeName => Type.Name;

    private static LatencyScorer Create(string name, PluginParameters p, PluginContext c)
    {
        p.GetDouble("ttftWeight", 0.8);
        p.GetDouble("tpotWeight", 0.2);
        string strategy = p.GetString("headroomSelectionStrategy", "least");
        if (strategy is not ("least" or "most"))
            throw new ConfigException($"invalid headroomSelectionStrategy '{strategy}', must be 'least' or 'most'");
        return new LatencyScorer(name, p.GetDouble("compositeKVWeight", 1), p.GetDouble("compositeQueueWeight", 1),
            p.GetDouble("compositePrefixWeight", 1));
    }

    public string Name { get; }

    public ScorerCategory Category => ScorerCategory.Balance;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        var endpoints = ctx.Snapshot.Endpoints;
        RequestScratch scratch = ctx.Scratch;
        double maxQ = 0;
        foreach (int c in candidates)
            maxQ = Math.Max(maxQ, endpoints[c].State.Metrics.WaitingQueueSize);
        for (int i = 0; i < candidates.Length; i++)
        {
            var m = endpoints[candidates[i]].State.Metrics;
            double relQueue = maxQ == 0 ? 1 : (maxQ - m.WaitingQueueSize) / maxQ;
            double kvFree = 1 - m.KvCacheUsagePercent;
            double prefix = scratch.PrefixScore(candidates[i]);
            double composite = _wkv * kvFree + _wq * relQueue + _wp * prefix;
            scores[i] = Math.Round(100 * composite, MidpointRounding.AwayFromZero) / 100;
        }
    }
}
