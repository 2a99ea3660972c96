using FastEpp.Configuration;
using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Scheduling.Scorers;

/// <summary>
/// <c>fastepp-wait-scorer</c> (FastEpp's own, Distribution; also PreRequest and ResponseComplete). Estimates how long
/// a request would wait for its first token on each candidate from what the EPP can see at decision time — the
/// requests it routed itself (known at once, not one metrics scrape later), the scraped queue and KV use, the
/// endpoint's KV capacity and the prefix match — and scores the candidates by it:
/// <code>
/// input     = prompt chars / 4 (body bytes / 4 without a parsed prompt); output = max_tokens, else 1.5 × input
/// uncached  = max(0, input − prefix-matched tokens)                (approx-prefix-cache-producer; 0 matched without it)
/// queued    = max(bucket: uncached prefill this EPP routed there, drained at R tokens/s since,
///                 scraped waiting requests × the mean uncached prefill of the requests routed there)
/// prefill   = (queued + uncached) / R
/// footprint = uncached + output/2                                  (the KV it adds there: a cached prefix is shared)
/// held      = max(Σ footprint of the requests routed there and not complete,
///                 scraped KV use × capacity + scraped waiting × the mean footprint routed there)
/// kvWait    = max(0, held + footprint − capacity) / capacity × the mean request lifetime there
///             (the KV-bound wait: the memory has to turn over that many times before this request is admitted)
/// cost      = prefill + workWeight × uncached / R + kvWait + stepSeconds
/// score     = min cost over the candidates / cost                     (1 for the best, relative elsewhere)
/// </code>
/// R = <c>prefillTokensPerSecond</c>; capacity = the scraped vllm:cache_config_info num_gpu_blocks × block_size, else
/// <c>kvCapacityTokens</c> (0 = no KV term without the metric). The request lifetime (routing to response end) is an
/// exponentially weighted mean per endpoint, <c>lifetimeSeconds</c> until the first response completes. The work term
/// is the request's externality (the oracle's lesson): the prefill it adds is paid again by the requests that queue
/// behind it, so a hot prefix is not copied to an idle endpoint for a few milliseconds of TTFT.
/// <para>State: one small object per endpoint id (grow-only array as inflight-load-producer): the in-flight counters
/// are Interlocked, the bucket and the means sit behind that endpoint's own lock (never a global one). No allocation
/// per decision once an endpoint has been seen.</para>
/// </summary>
internal sealed class WaitScorer : IScorer, IPreRequest, IResponseComplete
{
    public const double DefaultPrefillTokensPerSecond = 16_000;
    private const double Alpha = 0.1; // weight of a new observation in the per-endpoint means
    private readonly Lock _growLock = new();
    private readonly TimeProvider _time;
    private Load?[] _loads = new Load?[256];

    public WaitScorer(string name, TimeProvider? time = null, double prefillTokensPerSecond = DefaultPrefillTokensPerSecond,
        double workWeight = 1.0, double stepSeconds = 0.015, long kvCapacityTokens = 0, double lifetimeSeconds = 10)
    {
        if (!(prefillTokensPerSecond > 0))
            throw new ConfigException($"prefillTokensPerSecond must be > 0, got {prefillTokensPerSecond}");
        if (!(workWeight >= 0) || !(stepSeconds >= 0) || kvCapacityTokens < 0)
            throw new ConfigException("workWeight, stepSeconds and kvCapacityTokens must be >= 0");
        if (!(lifetimeSeconds > 0))
            throw new ConfigException($"lifetimeSeconds must be > 0, got {lifetimeSeconds}");
        Name = name;
        _time = time ?? TimeProvider.System;
        PrefillTokensPerSecond = prefillTokensPerSecond;
        WorkWeight = workWeight;
        StepSeconds = stepSeconds;
        KvCapacityTokens = kvCapacityTokens;
        LifetimeSeconds = lifetimeSeconds;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("fastepp-wait-scorer", static (n, p, c) => new WaitScorer(n, c.Time,
        p.GetDouble("prefillTokensPerSecond", DefaultPrefillTokensPerSecond), p.GetDouble("workWeight", 1.0),
        p.GetDouble("stepSeconds", 0.015), p.GetLong("kvCapacityTokens", 0), p.GetDouble("lifetimeSeconds", 10)));

    public string TypeName => Type.Name;

    public string Name { get; }

    public double PrefillTokensPerSecond { get; }

    public double WorkWeight { get; }

    public double StepSeconds { get; }

    public long KvCapacityTokens { get; }

    public double LifetimeSeconds { get; }

    public ScorerCategory Category => ScorerCategory.Distribution;

    public void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores)
    {
        RequestScratch scratch = ctx.Scratch;
        Endpoint[] endpoints = ctx.Snapshot.Endpoints;
        long input = InputTokens(ctx.Request);
        double halfOutput = OutputTokens(ctx.Request, input) / 2.0;
        long now = _time.GetTimestamp();
        double min = double.PositiveInfinity;
        Load?[] loads = Volatile.Read(ref _loads);
        for (int i = 0; i < candidates.Length; i++)
        {
            int c = candidates[i];
            EndpointState state = endpoints[c].State;
            Load? load = (uint)state.Id < (uint)loads.Length ? Volatile.Read(ref loads[state.Id]) : null;
            long uncached = Uncached(scratch, c, input);
            double cost = Cost(load, state.Metrics, uncached, input, uncached + halfOutput, now);
            scores[i] = cost;
            min = Math.Min(min, cost);
        }
        for (int i = 0; i < candidates.Length; i++)
            scores[i] = scores[i] > 0 ? min / scores[i] : 1;
    }

    /// <summary>The predicted wait (seconds) of a request on one endpoint; see the type's summary.</summary>
    internal double Cost(Load? load, in EndpointMetrics m, long uncached, long input, double footprint, long now)
    {
        double bucket = 0, meanUncached = uncached, meanFootprint = footprint, lifetime = LifetimeSeconds, held = 0;
        if (load is not null)
        {
            lock (load.Gate)
            {
                bucket = Drained(load, now);
                if (load.Routed > 0)
                {
                    meanUncached = load.MeanUncached;
                    meanFootprint = load.MeanFootprint;
                }
                if (load.Completed > 0)
                    lifetime = load.MeanLifetime;
            }
            held = Interlocked.Read(ref load.HeldTokens);
        }
        double queued = Math.Max(bucket, m.WaitingQueueSize * meanUncached);
        double cost = (queued + uncached * (1 + WorkWeight)) / PrefillTokensPerSecond + StepSeconds;
        double capacity = m.CacheNumBlocks > 0 && m.CacheBlockSize > 0 ? (double)m.CacheNumBlocks * m.CacheBlockSize : KvCapacityTokens;
        if (capacity > 0)
        {
            held = Math.Max(held, m.KvCacheUsagePercent * capacity + m.WaitingQueueSize * meanFootprint);
            double over = held + footprint - capacity;
            if (over > 0)
                cost += over / capacity * lifetime;
        }
        return cost;
    }

    public void PreRequest(SchedulingRequest request, RequestScratch scratch, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        if (chosen.IsEmpty || (uint)chosen[0] >= (uint)snapshot.Count)
            return;
        Release(scratch, completed: false); // a decision that never completed must not leak its charge
        long input = InputTokens(request);
        long uncached = Uncached(scratch, chosen[0], input);
        long footprint = uncached + OutputTokens(request, input) / 2;
        int id = snapshot.Endpoints[chosen[0]].State.Id;
        Load load = LoadFor(id);
        long now = _time.GetTimestamp();
        lock (load.Gate)
        {
            load.Bucket = Drained(load, now) + uncached;
            load.BucketAt = now;
            load.MeanUncached = load.Routed == 0 ? uncached : load.MeanUncached + Alpha * (uncached - load.MeanUncached);
            load.MeanFootprint = load.Routed == 0 ? footprint : load.MeanFootprint + Alpha * (footprint - load.MeanFootprint);
            load.Routed++;
        }
        Interlocked.Add(ref load.HeldTokens, footprint);
        scratch.WaitChargedId = id;
        scratch.WaitChargedTokens = footprint;
        scratch.WaitChargedAt = now;
    }

    public void ResponseComplete(SchedulingRequest request, RequestScratch scratch) => Release(scratch, completed: true);

    /// <summary>Prefill tokens still queued on an endpoint by the bucket, and the KV tokens its in-flight requests hold (tests, diagnostics).</summary>
    public (double Bucket, long Held) Get(EndpointState state)
    {
        Load?[] loads = Volatile.Read(ref _loads);
        Load? load = (uint)state.Id < (uint)loads.Length ? Volatile.Read(ref loads[state.Id]) : null;
        if (load is null)
            return (0, 0);
        lock (load.Gate)
            return (Drained(load, _time.GetTimestamp()), Interlocked.Read(ref load.HeldTokens));
    }

    /// <summary>Prompt tokens of a request: parsed prompt characters / 4, else body bytes / 4; at least 1.</summary>
    public static long InputTokens(SchedulingRequest request)
    {
        long chars = request.Body?.PromptCharsEstimate ?? 0;
        return Math.Max(1, chars > 0 ? chars / 4 : request.RequestSize / 4);
    }

    /// <summary>Output tokens expected: the request's max_tokens, else 1.5 × input (the reference's in-flight estimate).</summary>
    public static long OutputTokens(SchedulingRequest request, long input) =>
        request.Body?.MaxTokens is int max && max > 0 ? max : (long)Math.Round(input * 1.5, MidpointRounding.AwayFromZero);

    private void Release(RequestScratch scratch, bool completed)
    {
        int id = scratch.WaitChargedId;
        if (id == 0)
            return;
        scratch.WaitChargedId = 0;
        Load load = LoadFor(id);
        Interlocked.Add(ref load.HeldTokens, -scratch.WaitChargedTokens);
        if (!completed)
            return;
        double lifetime = _time.GetElapsedTime(scratch.WaitChargedAt).TotalSeconds;
        lock (load.Gate)
        {
            load.MeanLifetime = load.Completed == 0 ? lifetime : load.MeanLifetime + Alpha * (lifetime - load.MeanLifetime);
            load.Completed++;
        }
    }

    private static long Uncached(RequestScratch scratch, int endpointIndex, long input)
    {
        long matched = scratch.HasPrefixData ? (long)scratch.PrefixMatch(endpointIndex) * scratch.PrefixBlockSizeTokens : 0;
        return Math.Max(0, input - matched);
    }

    // Call under load.Gate.
    private double Drained(Load load, long now) =>
        load.Bucket <= 0 ? 0 : Math.Max(0, load.Bucket - PrefillTokensPerSecond * _time.GetElapsedTime(load.BucketAt, now).TotalSeconds);

    private Load LoadFor(int id)
    {
        Load?[] loads = Volatile.Read(ref _loads);
        if ((uint)id < (uint)loads.Length && Volatile.Read(ref loads[id]) is { } existing)
            return existing;
        lock (_growLock)
        {
            loads = _loads;
            if ((uint)id >= (uint)loads.Length)
            {
                var next = new Load?[Math.Max(id + 1, loads.Length * 2)];
                Array.Copy(loads, next, loads.Length);
                Volatile.Write(ref _loads, next);
                loads = next;
            }
            return loads[id] ??= new Load();
        }
    }

    /// <summary>What the scorer knows of one endpoint.</summary>
    internal sealed class Load
    {
        public readonly Lock Gate = new();
        public long HeldTokens;          // Interlocked
        public double Bucket;            // under Gate from here on
        public long BucketAt;
        public double MeanUncached;
        public double MeanFootprint;
        public double MeanLifetime;
        public long Routed;
        public long Completed;
    }
}
