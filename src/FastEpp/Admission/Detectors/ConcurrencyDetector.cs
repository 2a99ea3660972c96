using FastEpp.Endpoints;
using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Detectors;

/// <summary>
/// <c>concurrency-detector</c> (SaturationDetector + Filter), spec §2.9, over FastEpp's own in-flight
/// counters (<c>inflight-load-producer</c>, auto-created). Filter keeps endpoints with in-flight requests
/// (mode <c>requests</c>) or tokens (mode <c>tokens</c>) &lt; int(limit·(1+headroom)); may return none.
/// Saturation = Σ in-flight / Σ capacity over the candidates (no candidates → 1). Deviation: the reference's
/// saturation always reads 0 (it looks for attributes never written on datastore endpoints); ours is real
/// and uses <see cref="EndpointState.InFlight"/>, which ExtProc maintains.
/// Parameters: maxConcurrency 100 (&gt; 0), maxTokenConcurrency 1,000,000 (&gt; 0), concurrencyMode requests|tokens, headroom 0 (≥ 0).
/// </summary>
internal sealed class ConcurrencyDetector : ISaturationDetector, IFilter
{
    public ConcurrencyDetector(string name, long maxConcurrency = 100, long maxTokenConcurrency = 1_000_000,
        bool tokenMode = false, double headroom = 0)
    {
        Name = name;
        MaxConcurrency = maxConcurrency;
        MaxTokenConcurrency = maxTokenConcurrency;
        TokenMode = tokenMode;
        Headroom = headroom;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("concurrency-detector", Create);

    public string TypeName => Type.Name;

    private static ConcurrencyDetector Create(string name, PluginParameters p, PluginContext c)
    {
        long max = p.GetLong("maxConcurrency", 100);
        long maxTokens = p.GetLong("maxTokenConcurrency", 1_000_000);
        string mode = p.GetString("concurrencyMode", "requests");
        double headroom = p.GetDouble("headroom", 0);
        if (max <= 0)
            throw new ConfigException($"maxConcurrency must be > 0, got {max}");
        if (maxTokens <= 0)
            throw new ConfigException($"maxTokenConcurrency must be > 0, got {maxTokens}");
        if (mode is not ("requests" or "tokens"))
            throw new ConfigException($"concurrencyMode must be 'requests' or 'tokens', got '{mode}'");
        if (headroom < 0)
            throw new ConfigException($"headroom must be >= 0, got {headroom}");
        return new ConcurrencyDetector(name, max, maxTokens, mode == "tokens", headroom);
    }

    public string Name { get; }

    public long MaxConcurrency { get; }

    public long MaxTokenConcurrency { get; }

    public bool TokenMode { get; }

    public double Headroom { get; }

    public double Saturation(EndpointSnapshot snapshot, ReadOnlySpan<int> candidates)
    {
        if (candidates.IsEmpty)
            return 1.0;
        double inFlight = 0;
        double capacity = 0;
        foreach (int c in candidates)
        {
            inFlight += snapshot.Endpoints[c].State.InFlight;
            capacity += MaxConcurrency;
        }
        return capacity <= 0 ? 1.0 : inFlight / capacity;
    }

    public int Filter(in SchedulingContext ctx, Span<int> candidates)
    {
        RequestScratch scratch = ctx.Scratch;
        long limit = (long)((TokenMode ? MaxTokenConcurrency : MaxConcurrency) * (1 + Headroom));
        int n = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            int c = candidates[i];
            long load = !scratch.HasInFlightData ? 0 : TokenMode ? scratch.InFlightTokens(c) : scratch.InFlightRequests(c);
            if (load < limit)
                candidates[n++] = c;
        }
        return n;
    }
}
