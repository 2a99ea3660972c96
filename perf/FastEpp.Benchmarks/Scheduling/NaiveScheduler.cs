using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Benchmarks.Scheduling;

/// <summary>
/// The reference's shape, for a ratio: each scorer returns a fresh Dictionary&lt;Endpoint,double&gt;, the
/// weighted sum is another dictionary, the picker shuffles a list and stable-sorts it with LINQ.
/// Prefix scores come from a precomputed match map (as the reference reads an attribute).
/// </summary>
internal sealed class NaiveScheduler
{
    private readonly Random _random = new(1);

    public Endpoint Schedule(EndpointSnapshot snapshot, IReadOnlyDictionary<Endpoint, int> prefixMatches, int totalBlocks)
    {
        List<Endpoint> candidates = snapshot.Endpoints.ToList();
        var scorers = new (Func<List<Endpoint>, Dictionary<Endpoint, double>> Score, double Weight)[]
        {
            (Queue, 2), (Kv, 2), (c => Prefix(c, prefixMatches, totalBlocks), 3),
        };
        var totals = candidates.ToDictionary(e => e, _ => 0.0);
        foreach (var (score, weight) in scorers)
        {
            foreach (var (e, s) in score(candidates))
                totals[e] += Math.Clamp(s, 0, 1) * weight;
        }
        var list = totals.Select(kv => (Endpoint: kv.Key, Score: kv.Value)).ToList();
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = _random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list.OrderByDescending(x => x.Score).Take(1).Select(x => x.Endpoint).First();
    }

    private static Dictionary<Endpoint, double> Queue(List<Endpoint> c)
    {
        var q = c.ToDictionary(e => e, e => (double)e.State.Metrics.WaitingQueueSize);
        double min = q.Values.Min(), max = q.Values.Max();
        return q.ToDictionary(kv => kv.Key, kv => max == min ? 1.0 : (max - kv.Value) / (max - min));
    }

    private static Dictionary<Endpoint, double> Kv(List<Endpoint> c) =>
        c.ToDictionary(e => e, e => 1 - e.State.Metrics.KvCacheUsagePercent);

    private static Dictionary<Endpoint, double> Prefix(List<Endpoint> c, IReadOnlyDictionary<Endpoint, int> matches, int total) =>
        c.ToDictionary(e => e, e => total == 0 ? 0 : (matches.TryGetValue(e, out int m) ? m : 0) / (double)total);
}
