using FastEpp.Configuration;
using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>fastepp-predicted-ttft-scorer</c> (FastEpp's own, Distribution; also PreRequest). Predicts each candidate's time
/// to first token from what the EPP knows at decision time, without waiting for the next metrics scrape:
/// <code>
/// uncached = max(0, input tokens − prefix-matched tokens)         input ≈ prompt chars / 4 (body bytes / 4 without a parsed prompt)
/// backlog  = max(uncached prefill tokens this scorer routed to the endpoint, drained at R tokens/s since (a leaky bucket),
///              scraped waiting requests × input)
/// ttft     = (backlog + uncached) / R + kvPenaltySeconds × max(0, kv − kvCacheThreshold) / (1 − kvCacheThreshold)
/// cost     = ttft + workWeight × uncached / R + stepSeconds
/// score    = min cost over the candidates / cost                    (1 for the best, relative elsewhere)
/// </code>
/// R = <c>prefillTokensPerSecond</c> (default 16,000: Qwen3-32B on two H100s); kv = the scraped KV-cache usage.
/// The work term is the request's externality: the prefill it adds is paid again by every request that queues
/// behind it, and copying a hot prefix to an idle endpoint costs its whole prefill (the oracle's lesson).
/// Prefix matches come from <c>approx-prefix-cache-producer</c> (0 without it). At PreRequest the chosen endpoint's
/// backlog is charged with this request's uncached tokens. One short lock per decision; no allocation per decision.
/// Parameters: prefillTokensPerSecond (&gt; 0), kvCacheThreshold ([0, 1)), kvPenaltySeconds (≥ 0), workWeight (≥ 0),
/// stepSeconds (≥ 0, 0.015: the step floor that keeps ratios finite when nothing is left to compute).
/// </summary>
internal sealed class PredictedTtftScorer : IScorer, IPreRequest
{
    public const double DefaultPrefillTokensPerSecond = 16_000;
    // One (tokens, timestamp) bucket per endpoint id in a grow-only struct array; one lock per decision guards it.
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private Bucket[] _buckets = new Bucket[256];

    public PredictedTtftScorer(string name, TimeProvider? time = null, double prefillTokensPerSecond = DefaultPrefillTokensPerSecond,
        double kvCacheThreshold = 0.9, double kvPenaltySeconds = 1.0, double workWeight = 1.0, double stepSeconds = 0.015)
    {
        if (!(prefillTokensPerSecond > 0))
            throw new ConfigException($"prefillTokensPerSecond must be > 0, got {prefillTokensPerSecond}");
        if (!(kvCacheThreshold >= 0 && kvCacheThreshold < 1))
            throw new ConfigException($"kvCacheThreshold must be in [0, 1), got {kvCacheThreshold}");
        if (!(kvPenaltySeconds >= 0) || !(workWeight >= 0) || !(stepSeconds >= 0))
            throw new ConfigException("kvPenaltySeconds, workWeight and stepSeconds must be >= 0");
        Name = name;
        _time = time ?? TimeProvider.System;
        PrefillTokensPerSecond = prefillTokensPerSecond;
        KvCacheThreshold = kvCacheThreshold;
        KvPenaltySeconds = kvPenaltySeconds;
        WorkWeight = workWeight;
        StepSeconds = stepSeconds;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("fastepp-predicted-ttft-scorer", static (n, p, c) => new PredictedTtftScorer(n, c.Time,
        p.GetDouble("prefillTokensPerSecond", DefaultPrefillTokensPerSecond), p.GetDouble("kvCacheThreshold", 0.9),
        p.GetDouble("kvPenaltySeconds", 1.0), p.GetDouble("workWeight", 1.0), p.GetDouble("stepSeconds", 0.015)));

    public string TypeName => Type.Name;

    public string Name { get; }

    public double PrefillTokensPerSecond { get; }

    public double KvCacheThreshold { get; }

    public double KvPenaltySeconds { get; }

    public double WorkWeight { get; }

    public double StepSeconds { get; }

    public ScorerCategory Category => ScorerCategory.Distribution;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        RequestScratch scratch = ctx.Scratch;
        Endpoint[] endpoints = ctx.Snapshot.Endpoints;
        long input = InputTokens(ctx.Request);
        long now = _time.GetTimestamp();
        double min = double.PositiveInfinity;
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = 0;
        lock (_gate)
        {
            Bucket[] buckets = _buckets;
            for (int i = 0; i < candidates.Length; i++)
            {
                int id = endpoints[candidates[i]].State.Id;
                scores[i] = (uint)id < (uint)buckets.Length ? Drained(buckets[id], now) : 0;
            }
        }
        for (int i = 0; i < candidates.Length; i++)
        {
            int c = candidates[i];
            long uncached = Uncached(scratch, c, input);
            EndpointMetrics m = endpoints[c].State.Metrics;
            // What the EPP sent and the model says is not done yet, or what the last scrape saw queued (each waiting
            // request counted as this prompt's size), whichever is larger: the bucket is fresh, the scrape is true.
            double backlog = Math.Max(scores[i], (double)m.WaitingQueueSize * input);
            double kv = m.KvCacheUsagePercent;
            double cost = (backlog + uncached * (1 + WorkWeight)) / PrefillTokensPerSecond + StepSeconds
                + KvPenaltySeconds * Math.Max(0, kv - KvCacheThreshold) / (1 - KvCacheThreshold);
            scores[i] = cost;
            min = Math.Min(min, cost);
        }
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = scores[i] > 0 ? min / scores[i] : 1;
    }

    public void PreRequest(SchedulingRequest request, RequestScratch scratch, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        if (chosen.IsEmpty || (uint)chosen[0] >= (uint)snapshot.Count)
            return;
        long uncached = Uncached(scratch, chosen[0], InputTokens(request));
        int id = snapshot.Endpoints[chosen[0]].State.Id;
        long now = _time.GetTimestamp();
        lock (_gate)
        {
            if ((uint)id >= (uint)_buckets.Length)
                Array.Resize(ref _buckets, Math.Max(id + 1, _buckets.Length * 2));
            ref Bucket b = ref _buckets[id];
            b.Tokens = Drained(b, now) + uncached;
            b.Timestamp = now;
        }
    }

    /// <summary>Prefill tokens still queued on an endpoint (tests, diagnostics).</summary>
    public double Backlog(EndpointState state) => BacklogOf(state.Id, _time.GetTimestamp());

    /// <summary>Prompt tokens of a request: parsed prompt characters / 4, else body bytes / 4; at least 1.</summary>
    public static long InputTokens(SchedulingRequest request)
    {
        long chars = request.Body?.PromptCharsEstimate ?? 0;
        return Math.Max(1, chars > 0 ? chars / 4 : request.RequestSize / 4);
    }

    private static long Uncached(RequestScratch scratch, int endpointIndex, long input)
    {
        long matched = scratch.HasPrefixData ? (long)scratch.PrefixMatch(endpointIndex) * scratch.PrefixBlockSizeTokens : 0;
        return Math.Max(0, input - matched);
    }

    private double BacklogOf(int id, long now)
    {
        lock (_gate)
            return (uint)id < (uint)_buckets.Length ? Drained(_buckets[id], now) : 0;
    }

    private double Drained(in Bucket b, long now) =>
        b.Tokens <= 0 ? 0 : Math.Max(0, b.Tokens - PrefillTokensPerSecond * _time.GetElapsedTime(b.Timestamp, now).TotalSeconds);

    private struct Bucket
    {
        public double Tokens;
        public long Timestamp;
    }
}
