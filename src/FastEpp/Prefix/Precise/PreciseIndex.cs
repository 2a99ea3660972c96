namespace FastEpp.Prefix.Precise;

/// <summary>
/// The precise index: request key (<see cref="TokenBlockKeys"/>) → the endpoints holding that block, like llm-d's
/// in-memory index (an LRU of keys, each with up to <c>podCacheSize</c> pod entries). Bounded: at most
/// <see cref="Capacity"/> keys in all; a new key beyond it evicts the least recently written key of its shard.
/// A holder is confirmed (from a <c>BlockStored</c>) or speculative (added for a request just routed, expiring after
/// the TTL unless an event confirms it).
/// <para>Layout per shard: parallel arrays (key, LRU prev/next, holders × podsPerKey) and an open-addressing bucket
/// array (linear probing, backward-shift deletion). Arrays grow by doubling up to the shard's share of the capacity.
/// Writers and readers take the shard's lock for one key at a time (uncontended: ~20 ns), so a <see cref="Match"/>
/// of 256 blocks costs a few µs and allocates nothing; ingestion is allocation-free once the arrays have grown.</para>
/// </summary>
internal sealed class PreciseIndex
{
    private const int SpeculativeBit = unchecked((int)0x80000000);

    private readonly Shard[] _shards;
    private readonly int _shardShift;
    private readonly Lock _specLock = new();
    private SpecEntry[] _spec = new SpecEntry[256];
    private int _specHead, _specCount;

    /// <param name="capacity">Most keys held (llm-d <c>inMemoryConfig.size</c>).</param>
    /// <param name="podsPerKey">Most endpoints recorded per key (llm-d <c>podCacheSize</c>); the oldest gives way.</param>
    public PreciseIndex(long capacity, int podsPerKey = 10, int shardBits = 4)
    {
        if (capacity < 1)
            throw new ArgumentOutOfRangeException(nameof(capacity));
        if (podsPerKey < 1)
            throw new ArgumentOutOfRangeException(nameof(podsPerKey));
        Capacity = capacity;
        PodsPerKey = podsPerKey;
        int shards = 1 << shardBits;
        _shardShift = 64 - shardBits;
        _shards = new Shard[shards];
        long perShard = Math.Max(1, (capacity + shards - 1) / shards);
        for (int i = 0; i < shards; i++)
            _shards[i] = new Shard((int)Math.Min(perShard, 1 << 28), podsPerKey);
    }

    public long Capacity { get; }

    public int PodsPerKey { get; }

    /// <summary>Keys held now.</summary>
    public long KeyCount
    {
        get
        {
            long n = 0;
            foreach (Shard s in _shards)
                n += Volatile.Read(ref s.Count);
            return n;
        }
    }

    /// <summary>Bytes of the index's arrays (keys, links, holders, buckets, speculative ring).</summary>
    public long ApproximateBytes
    {
        get
        {
            long bytes = (long)_spec.Length * 16;
            foreach (Shard s in _shards)
                lock (s.Lock)
                    bytes += s.Bytes;
            return bytes;
        }
    }

    private Shard ShardOf(ulong key) => _shards[_shardShift == 64 ? 0 : (int)(key >> _shardShift)];

    /// <summary>Records that <paramref name="endpointId"/> holds <paramref name="key"/> (an engine event: confirmed).</summary>
    public void Add(ulong key, int endpointId) => ShardOf(key).Add(key, endpointId, speculative: false);

    /// <summary>Drops <paramref name="endpointId"/> from <paramref name="key"/> (BlockRemoved).</summary>
    public void Remove(ulong key, int endpointId) => ShardOf(key).Remove(key, endpointId, onlySpeculative: false);

    /// <summary>True when <paramref name="endpointId"/> holds <paramref name="key"/> (confirmed or speculative).</summary>
    public bool Holds(ulong key, int endpointId) => ShardOf(key).Holds(key, endpointId);

    /// <summary>True when <paramref name="endpointId"/> holds <paramref name="key"/> only speculatively.</summary>
    public bool HoldsSpeculatively(ulong key, int endpointId) => ShardOf(key).HoldsSpeculatively(key, endpointId);

    /// <summary>Forgets every entry of <paramref name="endpointId"/> (AllBlocksCleared, sequence gap, restart, removal). O(keys held).</summary>
    public void ClearEndpoint(int endpointId)
    {
        foreach (Shard s in _shards)
            s.ClearEndpoint(endpointId);
    }

    /// <summary>
    /// Adds speculative holders for the keys of a request just routed to <paramref name="endpointId"/>; each expires at
    /// <paramref name="expiresAt"/> (a <see cref="TimeProvider"/> timestamp) unless an event confirms it first.
    /// </summary>
    public void AddSpeculative(ReadOnlySpan<ulong> keys, int endpointId, long expiresAt)
    {
        foreach (ulong key in keys)
        {
            if (!ShardOf(key).Add(key, endpointId, speculative: true))
                continue; // already held: nothing to expire
            lock (_specLock)
            {
                if (_specCount == _spec.Length)
                    GrowSpec();
                _spec[(_specHead + _specCount) % _spec.Length] = new SpecEntry(key, endpointId, expiresAt);
                _specCount++;
            }
        }
    }

    /// <summary>Drops speculative holders whose TTL has passed (and that no event confirmed). Returns how many were dropped.</summary>
    public int ExpireSpeculative(long now)
    {
        int dropped = 0;
        while (true)
        {
            SpecEntry e;
            lock (_specLock)
            {
                if (_specCount == 0 || _spec[_specHead].ExpiresAt > now)
                    return dropped;
                e = _spec[_specHead];
                _specHead = (_specHead + 1) % _spec.Length;
                _specCount--;
            }
            if (ShardOf(e.Key).Remove(e.Key, e.EndpointId, onlySpeculative: true))
                dropped++;
        }
    }

    /// <summary>Speculative entries waiting for their TTL.</summary>
    public int PendingSpeculative
    {
        get
        {
            lock (_specLock)
                return _specCount;
        }
    }

    private void GrowSpec()
    {
        // Bounded like the index: past the capacity the oldest pending entry expires early.
        if (_spec.Length >= Math.Min(Capacity, 1 << 24))
        {
            SpecEntry old = _spec[_specHead];
            _specHead = (_specHead + 1) % _spec.Length;
            _specCount--;
            ShardOf(old.Key).Remove(old.Key, old.EndpointId, onlySpeculative: true);
            return;
        }
        var next = new SpecEntry[_spec.Length * 2];
        for (int i = 0; i < _specCount; i++)
            next[i] = _spec[(_specHead + i) % _spec.Length];
        _spec = next;
        _specHead = 0;
    }

    /// <summary>
    /// For each endpoint in <paramref name="endpointIds"/>, the number of leading <paramref name="keys"/> it holds
    /// (stops at its first miss, as llm-d's longest-prefix lookup). Allocation-free for up to 1,024 endpoints.
    /// </summary>
    public void Match(ReadOnlySpan<ulong> keys, ReadOnlySpan<int> endpointIds, Span<int> counts)
    {
        int m = endpointIds.Length;
        counts[..m].Clear();
        if (m == 0)
            return;
        bool[]? rented = null;
        Span<bool> dead = m <= 1024 ? stackalloc bool[m] : (rented = System.Buffers.ArrayPool<bool>.Shared.Rent(m)).AsSpan(0, m);
        dead.Clear();
        int alive = m;
        foreach (ulong key in keys)
        {
            alive = ShardOf(key).MatchOne(key, endpointIds, counts, dead, alive);
            if (alive == 0)
                break;
        }
        if (rented is not null)
            System.Buffers.ArrayPool<bool>.Shared.Return(rented);
    }

    private readonly record struct SpecEntry(ulong Key, int EndpointId, long ExpiresAt);

    private sealed class Shard(int capacity, int podsPerKey)
    {
        public readonly Lock Lock = new();
        public int Count;

        private readonly int _capacity = capacity;
        private readonly int _pods = podsPerKey;
        private ulong[] _keys = new ulong[Math.Min(capacity, 64)];
        private int[] _prev = new int[Math.Min(capacity, 64)];
        private int[] _next = new int[Math.Min(capacity, 64)];
        private int[] _holders = new int[Math.Min(capacity, 64) * podsPerKey];
        private int[] _buckets = new int[256];
        private int _used, _free = -1, _head = -1, _tail = -1;

        public long Bytes => (long)_keys.Length * 8 + (long)_prev.Length * 4 + (long)_next.Length * 4
            + (long)_holders.Length * 4 + (long)_buckets.Length * 4 + 64;

        public bool Add(ulong key, int endpointId, bool speculative)
        {
            int value = speculative ? endpointId | SpeculativeBit : endpointId;
            lock (Lock)
            {
                int e = Find(key, out _);
                if (e < 0)
                    e = Insert(key);
                else
                    Touch(e);
                Span<int> h = _holders.AsSpan(e * _pods, _pods);
                int free = -1;
                for (int i = 0; i < h.Length; i++)
                {
                    int v = h[i];
                    if (v == 0)
                    {
                        if (free < 0)
                            free = i;
                        continue;
                    }
                    if ((v & ~SpeculativeBit) == endpointId)
                    {
                        if (!speculative && v != endpointId)
                            h[i] = endpointId; // the engine confirmed a speculative entry
                        return false;
                    }
                }
                if (free < 0)
                {
                    // Full: the oldest holder gives way (llm-d keeps an LRU of podCacheSize entries per key).
                    h[1..].CopyTo(h);
                    free = h.Length - 1;
                }
                h[free] = value;
                return true;
            }
        }

        public bool Remove(ulong key, int endpointId, bool onlySpeculative)
        {
            lock (Lock)
            {
                int e = Find(key, out _);
                if (e < 0)
                    return false;
                Span<int> h = _holders.AsSpan(e * _pods, _pods);
                bool removed = false, any = false;
                for (int i = 0; i < h.Length; i++)
                {
                    int v = h[i];
                    if (v != 0 && (v & ~SpeculativeBit) == endpointId && (!onlySpeculative || v != endpointId))
                    {
                        h[i] = 0;
                        removed = true;
                    }
                    else if (v != 0)
                        any = true;
                }
                if (!any)
                    RemoveEntry(e);
                return removed;
            }
        }

        public bool Holds(ulong key, int endpointId)
        {
            lock (Lock)
            {
                int e = Find(key, out _);
                return e >= 0 && IndexOfHolder(e, endpointId) >= 0;
            }
        }

        public bool HoldsSpeculatively(ulong key, int endpointId)
        {
            lock (Lock)
            {
                int e = Find(key, out _);
                if (e < 0)
                    return false;
                int i = IndexOfHolder(e, endpointId);
                return i >= 0 && _holders[e * _pods + i] != endpointId;
            }
        }

        public int MatchOne(ulong key, ReadOnlySpan<int> ids, Span<int> counts, Span<bool> dead, int alive)
        {
            lock (Lock)
            {
                int e = Find(key, out _);
                if (e < 0)
                    return 0;
                ReadOnlySpan<int> h = _holders.AsSpan(e * _pods, _pods);
                for (int c = 0; c < ids.Length; c++)
                {
                    if (dead[c])
                        continue;
                    bool held = false;
                    foreach (int v in h)
                    {
                        if (v != 0 && (v & ~SpeculativeBit) == ids[c])
                        {
                            held = true;
                            break;
                        }
                    }
                    if (held)
                        counts[c]++;
                    else
                    {
                        dead[c] = true;
                        alive--;
                    }
                }
                return alive;
            }
        }

        public void ClearEndpoint(int endpointId)
        {
            lock (Lock)
            {
                for (int e = _head; e >= 0;)
                {
                    int next = _next[e];
                    Span<int> h = _holders.AsSpan(e * _pods, _pods);
                    bool any = false;
                    for (int i = 0; i < h.Length; i++)
                    {
                        if (h[i] != 0 && (h[i] & ~SpeculativeBit) == endpointId)
                            h[i] = 0;
                        else if (h[i] != 0)
                            any = true;
                    }
                    if (!any)
                        RemoveEntry(e);
                    e = next;
                }
            }
        }

        private int IndexOfHolder(int e, int endpointId)
        {
            ReadOnlySpan<int> h = _holders.AsSpan(e * _pods, _pods);
            for (int i = 0; i < h.Length; i++)
                if (h[i] != 0 && (h[i] & ~SpeculativeBit) == endpointId)
                    return i;
            return -1;
        }

        private int Find(ulong key, out int bucket)
        {
            int mask = _buckets.Length - 1;
            int i = (int)key & mask;
            while (true)
            {
                int b = _buckets[i];
                if (b == 0)
                {
                    bucket = i;
                    return -1;
                }
                if (_keys[b - 1] == key)
                {
                    bucket = i;
                    return b - 1;
                }
                i = (i + 1) & mask;
            }
        }

        private int Insert(ulong key)
        {
            if (Count >= _capacity)
                RemoveEntry(_tail); // evict the least recently written key
            int e;
            if (_free >= 0)
            {
                e = _free;
                _free = _next[e];
            }
            else
            {
                if (_used == _keys.Length)
                    GrowEntries();
                e = _used++;
            }
            _keys[e] = key;
            _holders.AsSpan(e * _pods, _pods).Clear();
            // Link at the head (most recent).
            _prev[e] = -1;
            _next[e] = _head;
            if (_head >= 0)
                _prev[_head] = e;
            _head = e;
            if (_tail < 0)
                _tail = e;
            Volatile.Write(ref Count, Count + 1);
            if ((long)Count * 2 > _buckets.Length)
                Rehash(_buckets.Length * 2);
            else
            {
                Find(key, out int bucket);
                _buckets[bucket] = e + 1;
                return e;
            }
            return e;
        }

        private void Touch(int e)
        {
            if (_head == e)
                return;
            Unlink(e);
            _prev[e] = -1;
            _next[e] = _head;
            if (_head >= 0)
                _prev[_head] = e;
            _head = e;
            if (_tail < 0)
                _tail = e;
        }

        private void Unlink(int e)
        {
            int p = _prev[e], n = _next[e];
            if (p >= 0)
                _next[p] = n;
            else
                _head = n;
            if (n >= 0)
                _prev[n] = p;
            else
                _tail = p;
        }

        private void RemoveEntry(int e)
        {
            Find(_keys[e], out int i);
            // Backward-shift deletion keeps every probe chain unbroken without tombstones.
            int mask = _buckets.Length - 1;
            int j = i;
            while (true)
            {
                j = (j + 1) & mask;
                int b = _buckets[j];
                if (b == 0)
                    break;
                int home = (int)_keys[b - 1] & mask;
                bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
                if (movable)
                {
                    _buckets[i] = b;
                    i = j;
                }
            }
            _buckets[i] = 0;
            Unlink(e);
            _holders.AsSpan(e * _pods, _pods).Clear();
            _next[e] = _free;
            _free = e;
            Volatile.Write(ref Count, Count - 1);
        }

        private void GrowEntries()
        {
            int size = (int)Math.Min((long)_keys.Length * 2, _capacity);
            Array.Resize(ref _keys, size);
            Array.Resize(ref _prev, size);
            Array.Resize(ref _next, size);
            Array.Resize(ref _holders, size * _pods);
        }

        private void Rehash(int size)
        {
            _buckets = new int[size];
            int mask = size - 1;
            for (int e = _head; e >= 0; e = _next[e])
            {
                int i = (int)_keys[e] & mask;
                while (_buckets[i] != 0)
                    i = (i + 1) & mask;
                _buckets[i] = e + 1;
            }
        }
    }
}
