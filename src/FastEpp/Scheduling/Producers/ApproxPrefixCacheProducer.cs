using System.Text;
using FastEpp.Body;
using FastEpp.Endpoints;
using FastEpp.Configuration;
using FastEpp.Prefix;
using Microsoft.Extensions.ObjectPool;

namespace FastEpp.Scheduling.Producers;

/// <summary>
/// <c>approx-prefix-cache-producer</c> (DataProducer + PreRequest), spec §3. Prepare: effective block size
/// B (first candidate's CacheBlockSize when autoTune), maxBlocks, the prefix input U (capped at maxBlocks × C
/// bytes while it is written), the chained block hashes, and one lock-free <see cref="PrefixIndex.Match"/>
/// giving matchBlocks per candidate (into the request scratch). PreRequest: records the chain for the
/// primary (first) endpoint only — on the thread pool from a pooled work item, as the reference fires a
/// goroutine. Departed endpoints are dropped from the index when a new snapshot version is first seen
/// (<see cref="PrefixIndex.Retain"/> on the thread pool); the reference sweeps every 2 minutes.
/// Parameters: autoTune (true), blockSizeTokens (16), blockSize (deprecated), maxPrefixBlocksToMatch (256),
/// maxPrefixTokensToMatch (0), lruCapacityPerServer (31250, unused as in the reference).
/// </summary>
internal sealed class ApproxPrefixCacheProducer : IDataProducer, IPreRequest
{
    private long _seenVersion = -1;

    public ApproxPrefixCacheProducer(string name, bool autoTune = PrefixCacheParameters.DefaultAutoTune,
        int blockSizeTokens = PrefixCacheParameters.DefaultBlockSizeTokens,
        int maxPrefixBlocksToMatch = PrefixCacheParameters.DefaultMaxPrefixBlocksToMatch,
        int maxPrefixTokensToMatch = 0, PrefixIndex? index = null)
    {
        Name = name;
        AutoTune = autoTune;
        BlockSizeTokens = blockSizeTokens;
        MaxPrefixBlocksToMatch = maxPrefixBlocksToMatch;
        MaxPrefixTokensToMatch = maxPrefixTokensToMatch;
        Index = index ?? new PrefixIndex();
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("approx-prefix-cache-producer", Create);

    public string TypeName => Type.Name;

    private static ApproxPrefixCacheProducer Create(string name, PluginParameters p, PluginContext c)
    {
        bool autoTune = p.GetBool("autoTune", true);
        int blockSizeTokens = p.GetInt("blockSizeTokens", PrefixCacheParameters.DefaultBlockSizeTokens);
        int blockSize = p.GetInt("blockSize", 0);
        int maxBlocks = p.GetInt("maxPrefixBlocksToMatch", PrefixCacheParameters.DefaultMaxPrefixBlocksToMatch);
        int maxTokens = p.GetInt("maxPrefixTokensToMatch", 0);
        p.GetInt("lruCapacityPerServer", PrefixCacheParameters.DefaultLruCapacityPerServer);
        if (blockSize > 0 && blockSizeTokens <= 0)
            throw new ConfigException("BlockSize is deprecated, use BlockSizeTokens instead");
        if (!autoTune && blockSizeTokens <= 0)
            throw new ConfigException("BlockSizeTokens must be > 0 when AutoTune is disabled");
        if (maxTokens < 0)
            throw new ConfigException("MaxPrefixTokensToMatch must be >= 0");
        return new ApproxPrefixCacheProducer(name, autoTune, blockSizeTokens, maxBlocks, maxTokens) { Metrics = c.Metrics };
    }

    public string Name { get; }

    public bool AutoTune { get; }

    public int BlockSizeTokens { get; }

    public int MaxPrefixBlocksToMatch { get; }

    public int MaxPrefixTokensToMatch { get; }

    /// <summary>The index (gauges: <see cref="PrefixIndex.EntryCount"/> for <c>prefix_indexer_size</c>).</summary>
    public PrefixIndex Index { get; }

    public void Prepare(in SchedulingContext ctx, ReadOnlySpan<int> candidates)
    {
        RequestScratch scratch = ctx.Scratch;
        EndpointSnapshot snapshot = ctx.Snapshot;
        ObserveSnapshot(snapshot);

        scratch.HasPrefixData = true;
        scratch.PrefixTotalBlocks = 0;
        scratch.HashCount = 0;
        for (int i = 0; i < candidates.Length; i++)
            scratch.PrefixMatch(candidates[i]) = 0;
        if (candidates.IsEmpty)
            return;

        int firstBlockSize = snapshot.Endpoints[candidates[0]].State.Metrics.CacheBlockSize;
        int b = PrefixCacheParameters.EffectiveBlockSizeTokens(AutoTune, BlockSizeTokens, firstBlockSize);
        scratch.PrefixBlockSizeTokens = b;
        int maxBlocks = PrefixCacheParameters.MaxBlocks(MaxPrefixBlocksToMatch, MaxPrefixTokensToMatch, b);
        long blockBytes = (long)b * PrefixCacheParameters.CharactersPerToken;

        SchedulingRequest request = ctx.Request;
        ParsedRequest? body = request.Body;
        if (body is null || blockBytes <= 0 || maxBlocks <= 0)
            return;

        long capLong = blockBytes * maxBlocks;
        int cap = capLong > Array.MaxLength ? Array.MaxLength : (int)capLong;
        CappedBufferWriter input = scratch.PrefixInput;
        input.Reset(cap);
        RequestBodyWriter.WritePrefixInput(request.BodyBytes, body, input);
        int inputLength = input.TotalLength > int.MaxValue ? int.MaxValue : (int)input.TotalLength;
        int n = BlockHasher.BlockCount(inputLength, b, maxBlocks);
        if (n == 0)
            return;

        ReadOnlySpan<byte> model = EncodeModel(scratch, request.TargetModel);
        Span<ulong> hashes = scratch.Hashes(n);
        // The kept bytes are at most the cap; when the input was longer, whole blocks up to the cap exist.
        n = BlockHasher.ComputeChain(model, body.CacheSaltUtf8.Span, input.Kept, b, maxBlocks, hashes);
        scratch.HashCount = n;
        scratch.PrefixTotalBlocks = n;
        if (n == 0)
            return;

        Span<int> ids = scratch.Ids(candidates.Length);
        for (int i = 0; i < candidates.Length; i++)
            ids[i] = snapshot.Endpoints[candidates[i]].State.Id;
        Span<int> counts = scratch.MatchCounts(candidates.Length);
        Index.Match(scratch.HashChain, ids, counts);
        for (int i = 0; i < candidates.Length; i++)
            scratch.PrefixMatch(candidates[i]) = counts[i];
    }

    public void PreRequest(SchedulingRequest request, RequestScratch scratch, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        if (chosen.IsEmpty || (uint)chosen[0] >= (uint)snapshot.Count)
            return;
        if (Metrics is { } metrics && scratch.HasPrefixData)
        {
            // As the reference: the chosen endpoint's match and the total, in approximate bytes (blocks × B × 4).
            long bytesPerBlock = (long)scratch.PrefixBlockSizeTokens * PrefixCacheParameters.CharactersPerToken;
            metrics.PrefixMatch(scratch.PrefixMatch(chosen[0]) * bytesPerBlock, scratch.PrefixTotalBlocks * bytesPerBlock);
        }
        if (scratch.HashCount == 0)
            return;
        EndpointState target = snapshot.Endpoints[chosen[0]].State;
        int capacity = PrefixCacheParameters.ServerCapacity(AutoTune, target.Metrics.CacheNumBlocks);
        // Recording (up to ~0.2 ms for 256 new blocks on full LRUs) runs on the thread pool so Envoy gets its
        // answer first; the chain is copied into a pooled work item, so this allocates nothing once warm.
        PendingRecord work = _records.Get();
        work.Set(this, scratch.HashChain, target.Id, capacity);
        Interlocked.Increment(ref _pendingRecords);
        ThreadPool.UnsafeQueueUserWorkItem(work, preferLocal: false);
        scratch.HashCount = 0; // recorded once, like the reference deleting its PluginState entry
    }

    /// <summary>Receives prefix_indexer_hit_ratio / _hit_bytes per request (null: not exported).</summary>
    public Observability.EppMetrics? Metrics { get; init; }

    /// <summary>Records queued by PreRequest and not yet applied to the index (tests wait for 0).</summary>
    public long PendingRecords => Interlocked.Read(ref _pendingRecords);

    private readonly ObjectPool<PendingRecord> _records = new DefaultObjectPool<PendingRecord>(new DefaultPooledObjectPolicy<PendingRecord>(), 1024);
    private long _pendingRecords;

    /// <summary>One deferred <see cref="PrefixIndex.Record"/>: the chosen endpoint and a copy of the hash chain.</summary>
    private sealed class PendingRecord : IThreadPoolWorkItem
    {
        private ulong[] _hashes = new ulong[64];
        private int _count, _endpointId, _capacity;
        private ApproxPrefixCacheProducer? _owner;

        public void Set(ApproxPrefixCacheProducer owner, ReadOnlySpan<ulong> hashes, int endpointId, int capacity)
        {
            if (_hashes.Length < hashes.Length)
                _hashes = new ulong[Math.Max(hashes.Length, _hashes.Length * 2)];
            hashes.CopyTo(_hashes);
            _count = hashes.Length;
            _endpointId = endpointId;
            _capacity = capacity;
            _owner = owner;
        }

        public void Execute()
        {
            ApproxPrefixCacheProducer owner = _owner!;
            try
            {
                owner.Index.Record(_hashes.AsSpan(0, _count), _endpointId, _capacity);
            }
            finally
            {
                _owner = null;
                Interlocked.Decrement(ref owner._pendingRecords);
                owner._records.Return(this);
            }
        }
    }

    private static ReadOnlySpan<byte> EncodeModel(RequestScratch scratch, string model)
    {
        int max = Encoding.UTF8.GetMaxByteCount(model.Length);
        if (scratch.ModelUtf8Buffer.Length < max)
            scratch.ModelUtf8Buffer = new byte[Math.Max(max, scratch.ModelUtf8Buffer.Length * 2)];
        int written = Encoding.UTF8.GetBytes(model, scratch.ModelUtf8Buffer);
        return scratch.ModelUtf8Buffer.AsSpan(0, written);
    }

    /// <summary>First sight of a new snapshot version: drop endpoints that left (rare, off the request path).</summary>
    private void ObserveSnapshot(EndpointSnapshot snapshot)
    {
        long seen = Volatile.Read(ref _seenVersion);
        if (snapshot.Version <= seen || Interlocked.CompareExchange(ref _seenVersion, snapshot.Version, seen) != seen)
            return;
        if (seen < 0 && Index.EndpointCount == 0)
            return;
        ThreadPool.UnsafeQueueUserWorkItem(static state =>
        {
            var (index, snap) = state;
            var live = new int[snap.Count];
            for (int i = 0; i < live.Length; i++)
                live[i] = snap.Endpoints[i].State.Id;
            index.Retain(live);
        }, (Index, snapshot), preferLocal: false);
    }
}
