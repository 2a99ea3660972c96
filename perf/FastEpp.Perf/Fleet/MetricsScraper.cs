using System.Globalization;

namespace FastEpp.Perf.Fleet;

/// <summary>Sums vLLM counters over the fleet's /metrics (prefix-cache hits and queries, preemptions).</summary>
internal static class MetricsScraper
{
    public readonly record struct FleetCounters(double PrefixHits, double PrefixQueries, double Preemptions)
    {
        /// <summary>Token-weighted prefix-cache hit rate, NaN without queries.</summary>
        public double HitRate => PrefixQueries > 0 ? PrefixHits / PrefixQueries : double.NaN;
    }

    public static async Task<FleetCounters> ScrapeAsync(HttpClient http, IReadOnlyList<string> endpoints, CancellationToken ct)
    {
        double hits = 0, queries = 0, preempt = 0;
        foreach (string ep in endpoints)
        {
            string text;
            try
            {
                text = await http.GetStringAsync("http://" + ep + "/metrics", ct).ConfigureAwait(false);
            }
            catch (HttpRequestException)
            {
                continue;
            }
            foreach (string line in text.Split('\n'))
            {
                if (line.StartsWith("vllm:prefix_cache_hits_total", StringComparison.Ordinal))
                    hits += Value(line);
                else if (line.StartsWith("vllm:prefix_cache_queries_total", StringComparison.Ordinal))
                    queries += Value(line);
                else if (line.StartsWith("vllm:num_preemptions_total", StringComparison.Ordinal))
                    preempt += Value(line);
            }
        }
        return new FleetCounters(hits, queries, preempt);
    }

    private static double Value(string line)
    {
        int sp = line.LastIndexOf(' ');
        return sp > 0 && double.TryParse(line.AsSpan(sp + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : 0;
    }
}
