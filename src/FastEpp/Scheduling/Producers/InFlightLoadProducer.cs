using FastEpp.Endpoints;
using FastEpp.Configuration;

namespace FastEpp.Scheduling.Producers;

/// <summary>
/// <c>inflight-load-producer</c> (DataProducer + PreRequest + response end), spec §2.8. Keeps per-endpoint
/// (requests, tokens) counters, indexed by the stable <see cref="EndpointState.Id"/> in a grow-only array
/// (lock-free reads and Interlocked updates). Prepare copies them into the request scratch; PreRequest
/// charges the primary endpoint with 1 request and the token estimate; ResponseComplete releases exactly
/// that charge (once). Token estimate: input = max(RequestSize/4, 1) when the body size is known, else
/// max(1, round(promptChars/4)); output = round(input × 1.5); estimate = input + output. No parameters.
/// </summary>
internal sealed class InFlightLoadProducer(string name) : Plugin(name), IDataProducer, IPreRequest, IResponseComplete
{
    private readonly Lock _growLock = new();
    // One counter object per endpoint id (created on first charge): growing the array copies references,
    // so no update racing a growth is lost.
    private Counter?[] _counters = new Counter?[256];

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("inflight-load-producer", static (n, _, _) => new InFlightLoadProducer(n));

    public override string TypeName => Type.Name;

    public void Prepare(in SchedulingContext ctx, ReadOnlySpan<int> candidates)
    {
        RequestScratch scratch = ctx.Scratch;
        scratch.HasInFlightData = true;
        Counter?[] counters = Volatile.Read(ref _counters);
        var endpoints = ctx.Snapshot.Endpoints;
        foreach (int c in candidates)
        {
            int id = endpoints[c].State.Id;
            Counter? counter = (uint)id < (uint)counters.Length ? Volatile.Read(ref counters[id]) : null;
            if (counter is not null)
            {
                scratch.InFlightRequests(c) = Volatile.Read(ref counter.Requests);
                scratch.InFlightTokens(c) = Interlocked.Read(ref counter.Tokens);
            }
            else
            {
                scratch.InFlightRequests(c) = 0;
                scratch.InFlightTokens(c) = 0;
            }
        }
    }

    public void PreRequest(SchedulingRequest request, RequestScratch scratch, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        if (chosen.IsEmpty || (uint)chosen[0] >= (uint)snapshot.Count)
            return;
        Release(scratch); // a decision that was never completed must not leak its charge
        int id = snapshot.Endpoints[chosen[0]].State.Id;
        long estimate = EstimateTokens(request);
        Counter counter = CounterFor(id);
        Interlocked.Increment(ref counter.Requests);
        Interlocked.Add(ref counter.Tokens, estimate);
        scratch.TokenEstimate = estimate;
        scratch.InFlightChargedId = id;
    }

    public void ResponseComplete(SchedulingRequest request, RequestScratch scratch) => Release(scratch);

    /// <summary>Current counters of an endpoint (tests, diagnostics).</summary>
    public (int Requests, long Tokens) Get(EndpointState state)
    {
        Counter?[] counters = Volatile.Read(ref _counters);
        Counter? counter = (uint)state.Id < (uint)counters.Length ? Volatile.Read(ref counters[state.Id]) : null;
        return counter is null ? (0, 0) : (Volatile.Read(ref counter.Requests), Interlocked.Read(ref counter.Tokens));
    }

    /// <summary>The reference's token estimate for a request (spec §2.8).</summary>
    public static long EstimateTokens(SchedulingRequest request)
    {
        long input;
        if (request.RequestSize > 0)
            input = Math.Max(request.RequestSize / 4, 1);
        else
            input = Math.Max(1, (long)Math.Round((request.Body?.PromptCharsEstimate ?? 0) / 4.0, MidpointRounding.AwayFromZero));
        long output = (long)Math.Round(input * 1.5, MidpointRounding.AwayFromZero);
        return input + output;
    }

    private void Release(RequestScratch scratch)
    {
        int id = scratch.InFlightChargedId;
        if (id == 0)
            return;
        scratch.InFlightChargedId = 0;
        Counter counter = CounterFor(id);
        Interlocked.Decrement(ref counter.Requests);
        Interlocked.Add(ref counter.Tokens, -scratch.TokenEstimate);
    }

    private Counter CounterFor(int id)
    {
        Counter?[] counters = Volatile.Read(ref _counters);
        if ((uint)id >= (uint)counters.Length)
            counters = Grow(id);
        Counter? counter = Volatile.Read(ref counters[id]);
        if (counter is not null)
            return counter;
        lock (_growLock)
        {
            // Re-read under the lock: a concurrent Grow may have published a newer array.
            counters = _counters;
            return counters[id] ??= new Counter();
        }
    }

    private Counter?[] Grow(int id)
    {
        lock (_growLock)
        {
            Counter?[] current = _counters;
            if ((uint)id < (uint)current.Length)
                return current;
            var next = new Counter?[Math.Max(id + 1, current.Length * 2)];
            Array.Copy(current, next, current.Length);
            Volatile.Write(ref _counters, next);
            return next;
        }
    }

    private sealed class Counter
    {
        public int Requests;
        public long Tokens;
    }
}
