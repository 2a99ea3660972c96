using System.Runtime.CompilerServices;
using FastEpp.Endpoints;

namespace FastEpp.Scheduling;

/// <summary>
/// Per-stream reusable state of scheduling decisions (Garnet's SessionParseState shape): candidate and
/// score buffers, per-endpoint data written by producers, the prefix-hash chain, and what PreRequest
/// recorded so the response path can release it. Buffers only grow, so once warm a decision allocates
/// nothing. Owned by one <see cref="SchedulingRequest"/> (one ext_proc stream): one decision at a time.
/// </summary>
internal sealed class RequestScratch
{
    private int[] _candidates = new int[16];
    private int[] _temp = new int[16];
    private double[] _scores = new double[16];
    private double[] _totals = new double[16];
    private int[] _profileResults = new int[4];
    private int[] _ids = new int[16];
    private int[] _matchCounts = new int[16];

    // Per-endpoint (indexed by snapshot index) data written by producers.
    private int[] _prefixMatch = new int[16];
    private long[] _inFlightTokens = new long[16];
    private int[] _inFlightRequests = new int[16];

    private ulong[] _hashes = new ulong[16];

    /// <summary>Prefix input bytes (capped at the hashed length) for the approx prefix producer.</summary>
    internal CappedBufferWriter PrefixInput { get; } = new();

    /// <summary>UTF-8 of the target model (re-encoded per request into a grow-only buffer).</summary>
    internal byte[] ModelUtf8Buffer = new byte[64];

    // precise-prefix-cache-producer: the request's block keys (kept for the speculative PreRequest); the token ids are SchedulingRequest.Tokens.
    private ulong[] _preciseKeys = new ulong[16];

    /// <summary>How many keys of <see cref="PreciseKeyChain"/> are valid (0 = none for this decision).</summary>
    public int PreciseKeyCount { get; set; }

    public ReadOnlySpan<ulong> PreciseKeyChain => _preciseKeys.AsSpan(0, PreciseKeyCount);

    public Span<ulong> PreciseKeys(int n)
    {
        Ensure(ref _preciseKeys, n);
        return _preciseKeys.AsSpan(0, n);
    }

    public void Begin(EndpointSnapshot snapshot, int candidateCount)
    {
        Snapshot = snapshot;
        int n = Math.Max(candidateCount, 1);
        Ensure(ref _candidates, n);
        Ensure(ref _temp, n);
        Ensure(ref _scores, n);
        Ensure(ref _totals, n);
        Ensure(ref _ids, n);
        Ensure(ref _matchCounts, n);
        int e = Math.Max(snapshot.Count, 1);
        Ensure(ref _prefixMatch, e);
        Ensure(ref _inFlightTokens, e);
        Ensure(ref _inFlightRequests, e);
        HasPrefixData = false;
        PrefixTotalBlocks = 0;
        PrefixBlockSizeTokens = 0;
        HashCount = 0;
        PreciseKeyCount = 0;
        HasInFlightData = false;
    }

    /// <summary>The snapshot of the current (or last) decision.</summary>
    public EndpointSnapshot Snapshot { get; private set; } = EndpointSnapshot.Empty;

    public Span<int> Candidates(int n) => _candidates.AsSpan(0, n);

    public Span<int> Temp(int n) => _temp.AsSpan(0, n);

    public Span<double> Scores(int n) => _scores.AsSpan(0, n);

    public Span<double> Totals(int n) => _totals.AsSpan(0, n);

    public Span<int> Ids(int n) => _ids.AsSpan(0, n);

    public Span<int> MatchCounts(int n) => _matchCounts.AsSpan(0, n);

    /// <summary>Room for <paramref name="profiles"/> × <paramref name="perProfile"/> result indices.</summary>
    public Span<int> ProfileResults(int profiles, int perProfile)
    {
        Ensure(ref _profileResults, profiles * perProfile);
        return _profileResults.AsSpan(0, profiles * perProfile);
    }

    public Span<ulong> Hashes(int n)
    {
        Ensure(ref _hashes, n);
        return _hashes.AsSpan(0, n);
    }

    // ---- prefix-cache data (approx-prefix-cache-producer → prefix-cache-scorer / affinity filter / PreRequest)

    /// <summary>True once a prefix producer ran for this decision (the reference's attribute is present).</summary>
    public bool HasPrefixData { get; set; }

    /// <summary>n = number of block hashes of the request (totalBlocks).</summary>
    public int PrefixTotalBlocks { get; set; }

    /// <summary>The effective block size B used for this request (tokens).</summary>
    public int PrefixBlockSizeTokens { get; set; }

    /// <summary>How many hashes of <see cref="HashChain"/> are valid.</summary>
    public int HashCount { get; set; }

    public ReadOnlySpan<ulong> HashChain => _hashes.AsSpan(0, HashCount);

    /// <summary>matchBlocks of the endpoint at snapshot index <paramref name="endpointIndex"/>.</summary>
    public ref int PrefixMatch(int endpointIndex) => ref _prefixMatch[endpointIndex];

    /// <summary>The reference's prefix score: matchBlocks / totalBlocks, 0 without data or blocks.</summary>
    public double PrefixScore(int endpointIndex) =>
        HasPrefixData && PrefixTotalBlocks > 0 ? (double)_prefixMatch[endpointIndex] / PrefixTotalBlocks : 0;

    // ---- in-flight load (inflight-load-producer → token-load-scorer / concurrency-detector)

    public bool HasInFlightData { get; set; }

    public ref long InFlightTokens(int endpointIndex) => ref _inFlightTokens[endpointIndex];

    public ref int InFlightRequests(int endpointIndex) => ref _inFlightRequests[endpointIndex];

    /// <summary>Token estimate of the current request (set by the in-flight producer at PreRequest).</summary>
    public long TokenEstimate { get; set; }

    /// <summary>State id of the endpoint the in-flight producer charged; 0 = nothing to release.</summary>
    public int InFlightChargedId { get; set; }

    // ---- fastepp-wait-scorer: what it charged at PreRequest, released at ResponseComplete

    /// <summary>State id of the endpoint fastepp-wait-scorer charged; 0 = nothing to release.</summary>
    public int WaitChargedId { get; set; }

    /// <summary>KV tokens fastepp-wait-scorer charged to that endpoint.</summary>
    public long WaitChargedTokens { get; set; }

    /// <summary>When it was charged (TimeProvider timestamp): the request's lifetime ends at ResponseComplete.</summary>
    public long WaitChargedAt { get; set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ensure<T>(ref T[] array, int n)
    {
        if (array.Length < n)
            Grow(ref array, n);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Grow<T>(ref T[] array, int n) => array = new T[Math.Max(n, array.Length * 2)];
}
