using FastEpp.Sim.KvEvents;

namespace FastEpp.Sim.Engine;

/// <summary>
/// The GPU KV cache: a fixed number of blocks with automatic prefix caching, shaped like vLLM V1's block pool.
/// A block is in use while its reference count is above zero; free blocks sit in an LRU queue (head = evicted
/// next) and keep their content hash, so a later request with the same prefix can take them back (a hit).
/// Only full prompt blocks are hashed; a request frees its blocks tail-first so its last blocks are evicted first.
/// Usage (vllm:kv_cache_usage_perc) = blocks in use / all blocks; cached-but-free blocks count as free.
/// With <see cref="Events"/> set the pool reports, as vLLM's block pool does: a BlockStored per request and step for
/// the full blocks it commits to the prefix cache, a BlockRemoved when a cached block's hash is dropped because the
/// block is reused, an AllBlocksCleared on a successful <see cref="ResetPrefixCache"/>; the engine publishes them as
/// one batch per step. Freed blocks keep their hash (no event) until they are reused.
/// Single-threaded (engine only).
/// </summary>
internal sealed class KvBlockPool
{
    private readonly int[] _refCount;
    private readonly ulong[] _hash;
    private readonly bool[] _hasHash;
    private readonly int[] _prev;
    private readonly int[] _next;
    private readonly Dictionary<ulong, int> _cached = new();
    private readonly bool _prefixCaching;
    private int _head = -1;
    private int _tail = -1;

    /// <summary>Creates a pool of <paramref name="numBlocks"/> free blocks.</summary>
    public KvBlockPool(int numBlocks, int blockSize, bool prefixCaching)
    {
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        _prefixCaching = prefixCaching;
        _refCount = new int[numBlocks];
        _hash = new ulong[numBlocks];
        _hasHash = new bool[numBlocks];
        _prev = new int[numBlocks];
        _next = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++)
        {
            Append(i);
        }
        FreeCount = numBlocks;
    }

    /// <summary>All blocks.</summary>
    public int NumBlocks { get; }

    /// <summary>Tokens per block.</summary>
    public int BlockSize { get; }

    /// <summary>Blocks with reference count 0 (empty or cached-evictable).</summary>
    public int FreeCount { get; private set; }

    /// <summary>Blocks referenced by requests.</summary>
    public int UsedCount => NumBlocks - FreeCount;

    /// <summary>Fraction of blocks in use, 0..1.</summary>
    public double Usage => NumBlocks == 0 ? 0 : (double)UsedCount / NumBlocks;

    /// <summary>Blocks that currently hold a reusable prefix hash.</summary>
    public int CachedBlockCount => _cached.Count;

    /// <summary>True when a block with this content hash is in the prefix cache (in use or free-but-cached).</summary>
    public bool IsCached(ulong hash) => _prefixCaching && _cached.ContainsKey(hash);

    /// <summary>Where KV events go (null = events off).</summary>
    public KvEventRecorder? Events { get; set; }

    /// <summary>Automatic prefix caching on.</summary>
    public bool PrefixCaching => _prefixCaching;

    /// <summary>Blocks needed to hold <paramref name="tokens"/> tokens.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>
    /// Longest run of leading prompt blocks of <paramref name="request"/> present in the cache, capped so at least
    /// one token is left to compute (vLLM recomputes the last token to get logits).
    /// </summary>
    public int CountHitBlocks(SimRequest request)
    {
        if (!_prefixCaching)
        {
            return 0;
        }
        ulong[] hashes = request.BlockHashes;
        int maxBlocks = Math.Min(hashes.Length, (request.TotalTokens - 1) / BlockSize);
        int n = 0;
        while (n < maxBlocks && _cached.ContainsKey(hashes[n]))
        {
            n++;
        }
        return n;
    }

    /// <summary>
    /// Gives a fresh (Computed = 0) request its <paramref name="hitBlocks"/> cached blocks plus new blocks up to
    /// <paramref name="tokens"/> tokens. Returns false and changes nothing when there is not enough free space.
    /// </summary>
    public bool TryAllocateWithHits(SimRequest request, int hitBlocks, int tokens)
    {
        int need = BlocksFor(tokens) - hitBlocks;
        int freeHits = 0;
        for (int i = 0; i < hitBlocks; i++)
        {
            if (_refCount[_cached[request.BlockHashes[i]]] == 0)
            {
                freeHits++;
            }
        }
        if (need > FreeCount - freeHits)
        {
            return false;
        }
        EnsureArray(request, hitBlocks + need);
        for (int i = 0; i < hitBlocks; i++)
        {
            int b = _cached[request.BlockHashes[i]];
            if (_refCount[b]++ == 0)
            {
                Unlink(b);
                FreeCount--;
            }
            request.Blocks[request.BlockCount++] = b;
        }
        request.HashedBlocks = hitBlocks;
        for (int i = 0; i < need; i++)
        {
            request.Blocks[request.BlockCount++] = TakeFree();
        }
        return true;
    }

    /// <summary>Grows a running request's blocks to hold <paramref name="tokens"/> tokens; false when out of blocks.</summary>
    public bool TryGrow(SimRequest request, int tokens)
    {
        int need = BlocksFor(tokens) - request.BlockCount;
        if (need <= 0)
        {
            return true;
        }
        if (need > FreeCount)
        {
            return false;
        }
        EnsureArray(request, request.BlockCount + need);
        for (int i = 0; i < need; i++)
        {
            request.Blocks[request.BlockCount++] = TakeFree();
        }
        return true;
    }

    /// <summary>
    /// Registers the request's full prompt blocks covered by the first <paramref name="tokens"/> tokens in the prefix
    /// cache (vLLM caches blocks as soon as they are scheduled). A hash already cached by another block is left there.
    /// </summary>
    public void CacheFullBlocks(SimRequest request, int tokens)
    {
        if (!_prefixCaching)
        {
            return;
        }
        int full = Math.Min(Math.Min(tokens, request.PromptTokens) / BlockSize, request.BlockHashes.Length);
        if (Events is not null && full > request.HashedBlocks)
        {
            RecordStored(request, request.HashedBlocks, full);
        }
        for (int i = request.HashedBlocks; i < full; i++)
        {
            int b = request.Blocks[i];
            ulong h = request.BlockHashes[i];
            if (!_hasHash[b] && _cached.TryAdd(h, b))
            {
                _hash[b] = h;
                _hasHash[b] = true;
            }
        }
        if (full > request.HashedBlocks)
        {
            request.HashedBlocks = full;
        }
    }

    /// <summary>
    /// vLLM's <c>reset_prefix_cache</c>: forgets every cached hash, but only when no request holds a block (returns
    /// false and changes nothing otherwise); records AllBlocksCleared on success.
    /// </summary>
    public bool ResetPrefixCache()
    {
        if (UsedCount > 0)
        {
            return false;
        }
        _cached.Clear();
        Array.Clear(_hasHash);
        Events?.Add(AllBlocksCleared.Instance);
        return true;
    }

    /// <summary>Releases all blocks of a request, tail first; cached blocks stay reusable until evicted.</summary>
    public void Free(SimRequest request)
    {
        for (int i = request.BlockCount - 1; i >= 0; i--)
        {
            int b = request.Blocks[i];
            if (--_refCount[b] == 0)
            {
                Append(b);
                FreeCount++;
            }
        }
        request.BlockCount = 0;
        request.HashedBlocks = 0;
    }

    private int TakeFree()
    {
        int b = _head;
        Unlink(b);
        FreeCount--;
        if (_hasHash[b])
        {
            // Evicting a cached block: drop its hash so nobody hits on content about to be overwritten.
            if (_cached.TryGetValue(_hash[b], out int owner) && owner == b)
            {
                _cached.Remove(_hash[b]);
                Events?.Add(new BlockRemoved { BlockHashes = [_hash[b]] });
            }
            _hasHash[b] = false;
        }
        _refCount[b] = 1;
        return b;
    }

    // One BlockStored for blocks [from, to) of the request: all newly full blocks, also those whose hash another
    // block already holds (vLLM reports every newly full block; consumers treat repeated stores as idempotent).
    private void RecordStored(SimRequest request, int from, int to)
    {
        uint[] tokens = request.TokenIds is { } ids && ids.Length >= to * BlockSize
            ? ids.AsSpan(from * BlockSize, (to - from) * BlockSize).ToArray()
            : throw new InvalidOperationException("KV events need the request's token ids (SimRequest.TokenIds)");
        Events!.Add(new BlockStored
        {
            BlockHashes = request.BlockHashes.AsSpan(from, to - from).ToArray(),
            ParentBlockHash = from > 0 ? request.BlockHashes[from - 1] : null,
            TokenIds = tokens,
            BlockSize = BlockSize,
            LoraId = request.Adapter >= 0 ? request.Adapter + 1 : null,
            LoraName = request.Adapter >= 0 ? request.AdapterName : null,
        });
    }

    private static void EnsureArray(SimRequest request, int count)
    {
        if (request.Blocks.Length < count)
        {
            int size = Math.Max(count, Math.Max(4, request.Blocks.Length * 2));
            Array.Resize(ref request.Blocks, size);
        }
    }

    private void Append(int b)
    {
        _prev[b] = _tail;
        _next[b] = -1;
        if (_tail >= 0)
        {
            _next[_tail] = b;
        }
        else
        {
            _head = b;
        }
        _tail = b;
    }

    private void Unlink(int b)
    {
        int p = _prev[b], n = _next[b];
        if (p >= 0) { _next[p] = n; } else { _head = n; }
        if (n >= 0) { _prev[n] = p; } else { _tail = p; }
        _prev[b] = _next[b] = -1;
    }
}
