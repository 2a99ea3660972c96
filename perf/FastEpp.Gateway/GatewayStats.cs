using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace FastEpp.Gateway;

/// <summary>
/// Counters of one gateway instance (one routing mode). Lock-free increments; the per-upstream map holds one
/// <see cref="StrongBox{T}"/> per endpoint string so counting does not allocate after the first request.
/// </summary>
internal sealed class GatewayStats
{
    private readonly ConcurrentDictionary<string, StrongBox<long>> _perUpstream = new(StringComparer.Ordinal);
    private long _requests;
    private long _status2xx;
    private long _status4xx;
    private long _status5xx;
    private long _eppErrors;
    private long _failOpen;
    private long _failClosed;
    private long _immediateResponses;
    private long _fallbacks;
    private long _upstreamErrors;
    private long _noDestination;
    private long _bypassed;
    private readonly ConcurrentDictionary<string, StrongBox<long>> _perEpp = new(StringComparer.Ordinal);

    public GatewayStats(RoutingMode mode) => Mode = mode;

    /// <summary>Routing mode of the gateway these counters belong to.</summary>
    public RoutingMode Mode { get; }

    /// <summary>Requests received (stats endpoint excluded).</summary>
    public long Requests => Volatile.Read(ref _requests);
    public long Status2xx => Volatile.Read(ref _status2xx);
    public long Status4xx => Volatile.Read(ref _status4xx);
    public long Status5xx => Volatile.Read(ref _status5xx);
    /// <summary>ext_proc streams that failed (unreachable EPP, gRPC error) before an endpoint was picked.</summary>
    public long EppErrors => Volatile.Read(ref _eppErrors);
    /// <summary>Requests routed round robin because the EPP failed and failure mode is open.</summary>
    public long FailOpen => Volatile.Read(ref _failOpen);
    /// <summary>Requests answered 503 because the EPP failed and failure mode is closed.</summary>
    public long FailClosed => Volatile.Read(ref _failClosed);
    /// <summary>ImmediateResponse messages relayed to the client.</summary>
    public long ImmediateResponses => Volatile.Read(ref _immediateResponses);
    /// <summary>Times the next endpoint of the destination list was tried after a connect failure.</summary>
    public long Fallbacks => Volatile.Read(ref _fallbacks);
    /// <summary>Requests for which no upstream could be reached (or the upstream failed mid-request).</summary>
    public long UpstreamErrors => Volatile.Read(ref _upstreamErrors);
    /// <summary>EPP header responses without x-gateway-destination-endpoint.</summary>
    public long NoDestination => Volatile.Read(ref _noDestination);

    /// <summary>Requests that bypassed the EPP / picker (<see cref="GatewayOptions.BypassFraction"/>) and went round robin.</summary>
    public long Bypassed => Volatile.Read(ref _bypassed);

    internal void OnBypass() => Interlocked.Increment(ref _bypassed);

    /// <summary>Counts one ext_proc stream opened to the EPP at <paramref name="address"/>.</summary>
    internal void OnEpp(string address)
    {
        if (!_perEpp.TryGetValue(address, out StrongBox<long>? box))
            box = _perEpp.GetOrAdd(address, static _ => new StrongBox<long>());
        Interlocked.Increment(ref box.Value);
    }

    /// <summary>ext_proc streams opened to each EPP address so far (a snapshot).</summary>
    public Dictionary<string, long> PerEpp()
    {
        var d = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, StrongBox<long>> kv in _perEpp)
            d[kv.Key] = Volatile.Read(ref kv.Value.Value);
        return d;
    }

    internal void OnRequest() => Interlocked.Increment(ref _requests);
    internal void OnEppError() => Interlocked.Increment(ref _eppErrors);
    internal void OnFailOpen() => Interlocked.Increment(ref _failOpen);
    internal void OnFailClosed() => Interlocked.Increment(ref _failClosed);
    internal void OnImmediateResponse() => Interlocked.Increment(ref _immediateResponses);
    internal void OnFallback() => Interlocked.Increment(ref _fallbacks);

    private long _picks;
    private long _pickTicks;
    private long _pickMaxTicks;

    /// <summary>Decisions of the in-process picker (the oracle) and the wall time they took, mean and max, ms.</summary>
    public (long Count, double MeanMs, double MaxMs) PickTime
    {
        get
        {
            long n = Volatile.Read(ref _picks);
            return (n, n > 0 ? TimeSpan.FromTicks(Interlocked.Read(ref _pickTicks) / n).TotalMilliseconds : double.NaN,
                TimeSpan.FromTicks(Interlocked.Read(ref _pickMaxTicks)).TotalMilliseconds);
        }
    }

    internal void OnPick(TimeSpan elapsed)
    {
        Interlocked.Increment(ref _picks);
        Interlocked.Add(ref _pickTicks, elapsed.Ticks);
        long max;
        while (elapsed.Ticks > (max = Interlocked.Read(ref _pickMaxTicks)) && Interlocked.CompareExchange(ref _pickMaxTicks, elapsed.Ticks, max) != max)
        {
        }
    }
    internal void OnUpstreamError() => Interlocked.Increment(ref _upstreamErrors);
    internal void OnNoDestination() => Interlocked.Increment(ref _noDestination);

    internal void OnStatus(int status)
    {
        if (status >= 500)
            Interlocked.Increment(ref _status5xx);
        else if (status >= 400)
            Interlocked.Increment(ref _status4xx);
        else if (status >= 200 && status < 300)
            Interlocked.Increment(ref _status2xx);
    }

    /// <summary>Counts one request sent to <paramref name="endpoint"/>.</summary>
    internal void OnUpstream(string endpoint)
    {
        if (!_perUpstream.TryGetValue(endpoint, out StrongBox<long>? box))
            box = _perUpstream.GetOrAdd(endpoint, static _ => new StrongBox<long>());
        Interlocked.Increment(ref box.Value);
    }

    /// <summary>Requests sent to each upstream so far (a snapshot).</summary>
    public Dictionary<string, long> PerUpstream()
    {
        var d = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, StrongBox<long>> kv in _perUpstream)
            d[kv.Key] = Volatile.Read(ref kv.Value.Value);
        return d;
    }

    /// <summary>Writes the counters as one JSON object.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("mode", Mode switch { RoutingMode.Epp => "epp", RoutingMode.Random => "random", RoutingMode.Oracle => "oracle", _ => "round-robin" });
        w.WriteNumber("requests", Requests);
        w.WriteNumber("status2xx", Status2xx);
        w.WriteNumber("status4xx", Status4xx);
        w.WriteNumber("status5xx", Status5xx);
        w.WriteNumber("eppErrors", EppErrors);
        w.WriteNumber("failOpen", FailOpen);
        w.WriteNumber("failClosed", FailClosed);
        w.WriteNumber("immediateResponses", ImmediateResponses);
        w.WriteNumber("fallbacks", Fallbacks);
        w.WriteNumber("upstreamErrors", UpstreamErrors);
        w.WriteNumber("noDestination", NoDestination);
        w.WriteNumber("bypassed", Bypassed);
        w.WriteStartObject("perEpp");
        foreach (KeyValuePair<string, long> kv in PerEpp())
            w.WriteNumber(kv.Key, kv.Value);
        w.WriteEndObject();
        w.WriteStartObject("perUpstream");
        foreach (KeyValuePair<string, long> kv in PerUpstream())
            w.WriteNumber(kv.Key, kv.Value);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
