using System.Buffers;
using System.Runtime.CompilerServices;

namespace FastEpp.Prefix;

/// <summary>
/// The approximate prefix-cache index of spec scheduling.md §3.4–§3.5: which endpoints probably hold which
/// chained block hash, with an LRU per endpoint that mimics the model server's cache.
/// <para>
/// Readers (<see cref="Match"/>) never lock, never retry and never allocate; they read a membership word per
/// block from a sharded open-addressing table (see <see cref="PrefixShardTable"/>). Writers
/// (<see cref="Record"/>, <see cref="RemoveEndpoint"/>, <see cref="Retain"/>) serialise per endpoint (its LRU)
/// and per shard (membership words), always in that order. Design and memory figures: README.md.
/// </para>
/// Endpoints are keyed by <c>EndpointState.Id</c> (process-unique, never reused).
/// </summary>
internal sealed class PrefixIndex
{
    /// <summary>Most endpoints the index holds at once (inline membership fields are 21 bits).</summary>
    public const int MaxEndpoints = MembershipWord.MaxSlot + 1;

    private const int StackCountSlots = 512;

    private readonly PrefixIndexShard[] _shards;
    private readonly int _shardShift;
    private readonly Lock _registryLock = new();
    private readonly SortedSet<int> _freeSlots = [];
    private EndpointDirectory _directory = EndpointDirectory.Empty;
    private int _nextSlot;
    private long _entryCount;

    /// <summary>Creates an empty index.</summary>
    /// <param name="shardBits">log2 of the shard count (writer lock striping), 1..16; 6 = 64 shards.</param>
    public PrefixIndex(int shardBits = 6)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardBits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shardBits, 16);
        _shards = new PrefixIndexShard[1 << shardBits];
        for (int i = 0; i < _shards.Length; i++)
            _shards[i] = new PrefixIndexShard();
        _shardShift = 64 - shardBits;
    }

    /// <summary>Total (block hash, endpoint) entries: the sum of the LRU sizes, bounded by the sum of capacities.</summary>
    public long EntryCount => Interlocked.Read(ref _entryCount);

    /// <summary>Endpoints currently holding an LRU.</summary>
    public int EndpointCount => Volatile.Read(ref _directory).Count;

    /// <summary>Approximate managed bytes held by the index (tables, bitsets, LRUs), for a gauge.</summary>
    public long ApproximateBytes
    {
        get
        {
            long bytes = 0;
            foreach (PrefixIndexShard shard in _shards)
                bytes += shard.ApproximateBytes;
            foreach (EndpointLru endpoint in Volatile.Read(ref _directory).Endpoints)
                bytes += endpoint.ApproximateBytes;
            return bytes;
        }
    }

    /// <summary>
    /// §3.4 matchLongestPrefix: walks <paramref name="hashes"/> in order, stopping at the first hash nobody
    /// holds, and writes for each <paramref name="endpointIds"/>[i] into <paramref name="matchCounts"/>[i] how
    /// many of the walked blocks that endpoint holds (0 for endpoints the index does not know).
    /// Returns the number of walked blocks; every count is ≤ it. Lock-free and allocation-free.
    /// A concurrent <see cref="Record"/> may be seen partially (a prefix of its hashes), as if it ran block by block.
    /// </summary>
    [SkipLocalsInit]
    public int Match(ReadOnlySpan<ulong> hashes, ReadOnlySpan<int> endpointIds, Span<int> matchCounts)
    {
        if (matchCounts.Length < endpointIds.Length)
            ThrowCountsTooShort();

        EndpointDirectory directory = Volatile.Read(ref _directory);
        int slotCount = directory.SlotCount;
        int slotWords = (slotCount + 63) >> 6;
        int[]? rentedCounts = null;
        ulong[]? rentedBits = null;
        Span<int> counts = slotCount <= StackCountSlots
            ? stackalloc int[StackCountSlots]
            : (rentedCounts = ArrayPool<int>.Shared.Rent(slotCount));
        counts = counts[..slotCount];
        counts.Clear();
        Span<ulong> runBits = slotWords <= StackCountSlots / 64
            ? stackalloc ulong[StackCountSlots / 64]
            : (rentedBits = ArrayPool<ulong>.Shared.Rent(slotWords));
        runBits = runBits[..slotWords];

        // Consecutive blocks usually have the same holders (a shared prefix, then one endpoint's tail), so
        // memberships are counted per run: a run is extended while the next block's membership equals the
        // run's (an inline word, or a bitset copied when the run started) and flushed once with its length.
        int walked = 0;
        int runLength = 0;
        bool runIsBits = false;
        ulong runWord = 0;
        PrefixIndexShard[] shards = _shards;
        int shift = _shardShift;
        foreach (ulong hash in hashes)
        {
            PrefixShardTable table = shards[(int)(hash >> shift)].Table;
            ulong word = table.ReadWord(hash);
            if (word == 0)
                break;
            if (MembershipWord.IsOverflow(word))
            {
                ulong[]? bits = table.ReadOverflow(MembershipWord.OverflowIndex(word));
                if (bits is null)
                    break;
                // runWord != 0 marks a bitset run with a counted slot; only such a run can be extended, so an
                // emptied bitset (overflow words stay until the next rehash) is always checked and ends the walk.
                if (!(runIsBits && runWord != 0 && SameBits(bits, runBits)))
                {
                    Flush(counts, runLength, runIsBits, runWord, runBits);
                    runLength = 0;
                    if (!CopyBits(bits, runBits, out bool counted))
                        break;   // no bit set: nobody holds this hash any more
                    runIsBits = true;
                    runWord = counted ? 1UL : 0UL;
                }
            }
            else if (runIsBits || word != runWord)   // a new inline run
            {
                Flush(counts, runLength, runIsBits, runWord, runBits);
                runIsBits = false;
                runWord = word;
                runLength = 0;
            }
            runLength++;
            walked++;
        }
        Flush(counts, runLength, runIsBits, runWord, runBits);

        for (int i = 0; i < endpointIds.Length; i++)
        {
            int slot = directory.SlotOf(endpointIds[i]);
            matchCounts[i] = (uint)slot < (uint)counts.Length ? counts[slot] : 0;
        }

        if (rentedCounts is not null)
            ArrayPool<int>.Shared.Return(rentedCounts);
        if (rentedBits is not null)
            ArrayPool<ulong>.Shared.Return(rentedBits);
        return walked;
    }

    private static void Flush(Span<int> counts, int runLength, bool runIsBits, ulong runWord, ReadOnlySpan<ulong> runBits)
    {
        if (runLength == 0)
            return;
        if (runIsBits)
            MembershipWord.AddBits(runBits, runLength, counts);
        else
            MembershipWord.AddInline(runWord, runLength, counts);
    }

    /// <summary>
    /// Copies the slots a reader counts into <paramref name="run"/>; returns whether any bit of the whole bitset
    /// is set, and in <paramref name="counted"/> whether one of the copied (counted) slots is.
    /// </summary>
    private static bool CopyBits(ulong[] bits, Span<ulong> run, out bool counted)
    {
        ulong inRange = 0;
        int shared = Math.Min(bits.Length, run.Length);
        for (int i = 0; i < shared; i++)
        {
            ulong w = Volatile.Read(ref bits[i]);
            run[i] = w;
            inRange |= w;
        }
        run[shared..].Clear();
        ulong beyond = 0;
        for (int i = shared; i < bits.Length; i++)
            beyond |= Volatile.Read(ref bits[i]);
        counted = inRange != 0;
        return (inRange | beyond) != 0;
    }

    /// <summary>Whether a bitset holds exactly the run's slots (over the slots this reader counts).</summary>
    private static bool SameBits(ulong[] bits, ReadOnlySpan<ulong> run)
    {
        // Each word is a single atomic read and a writer flips one bit per write, so any read order is a valid view.
        int shared = Math.Min(bits.Length, run.Length);
        if (!bits.AsSpan(0, shared).SequenceEqual(run[..shared]))
            return false;
        return !run[shared..].ContainsAnyExcept(0UL);
    }

    /// <summary>
    /// §3.5 Add: records that <paramref name="endpointId"/> now holds <paramref name="hashes"/>, in chain order
    /// (an existing hash becomes most recent; a new one beyond capacity evicts the least recent, so a request's
    /// first block is its oldest). The endpoint's LRU is created on first use with <paramref name="capacity"/>
    /// (see <see cref="PrefixCacheParameters.ServerCapacity"/>; clamped to [1, <see cref="EndpointLru.MaxCapacity"/>]),
    /// which then stays fixed; later values are ignored.
    /// Ignored when <see cref="MaxEndpoints"/> endpoints are already held.
    /// </summary>
    public void Record(ReadOnlySpan<ulong> hashes, int endpointId, int capacity)
    {
        if (hashes.IsEmpty)
            return;
        while (true)
        {
            EndpointLru? endpoint = GetOrAdd(endpointId, capacity);
            if (endpoint is null)
                return;
            lock (endpoint)
            {
                // Removed between lookup and lock: the next lookup creates a fresh LRU (as the reference would).
                if (endpoint.Removed)
                    continue;

                int slot = endpoint.Slot;
                int slotWords = (Volatile.Read(ref _directory).SlotCount + 63) >> 6;
                long added = 0;
                foreach (ulong hash in hashes)
                {
                    if (!endpoint.Touch(hash, out bool evicted, out ulong evictedHash))
                        continue;
                    if (evicted)
                        ShardOf(evictedHash).RemoveMember(evictedHash, slot);
                    else
                        added++;
                    ShardOf(hash).AddMember(hash, slot, slotWords);
                }
                if (added != 0)
                    Interlocked.Add(ref _entryCount, added);
                return;
            }
        }
    }

    /// <summary>
    /// Drops an endpoint and all its entries now (the reference only notices every 2 minutes, §3.5).
    /// Readers that already started may still count it; new readers give it 0.
    /// </summary>
    public void RemoveEndpoint(int endpointId)
    {
        // 1. Unpublish, so new readers and writers no longer find it.
        EndpointLru? endpoint;
        lock (_registryLock)
        {
            if (!_directory.TryGet(endpointId, out endpoint))
                return;
            Volatile.Write(ref _directory, _directory.Without(endpointId));
        }

        // 2. Clear its memberships under its lock; a writer that still holds the old object sees Removed.
        int count;
        lock (endpoint)
        {
            endpoint.Removed = true;
            count = endpoint.Count;
            ulong[] hashes = ArrayPool<ulong>.Shared.Rent(Math.Max(1, count));
            int n = endpoint.CopyMostRecentFirst(hashes);
            for (int i = 0; i < n; i++)
                ShardOf(hashes[i]).RemoveMember(hashes[i], endpoint.Slot);
            ArrayPool<ulong>.Shared.Return(hashes);
            endpoint.Clear();
        }
        Interlocked.Add(ref _entryCount, -count);

        // 3. Only now may the slot be given to another endpoint: no membership word mentions it any more.
        lock (_registryLock)
            _freeSlots.Add(endpoint.Slot);
    }

    /// <summary>Removes every endpoint whose id is not in <paramref name="liveIds"/> (the §3.5 cleanup loop's job).</summary>
    public void Retain(ReadOnlySpan<int> liveIds)
    {
        var live = new HashSet<int>(liveIds.Length);
        foreach (int id in liveIds)
            live.Add(id);
        List<int>? stale = null;
        foreach (EndpointLru endpoint in Volatile.Read(ref _directory).Endpoints)
        {
            if (!live.Contains(endpoint.Id))
                (stale ??= []).Add(endpoint.Id);
        }
        if (stale is null)
            return;
        foreach (int id in stale)
            RemoveEndpoint(id);
    }

    /// <summary>Ids of the endpoints currently in the index (background use: cleanup, diagnostics).</summary>
    public int[] GetEndpointIds()
    {
        EndpointDirectory directory = Volatile.Read(ref _directory);
        var ids = new int[directory.Count];
        int i = 0;
        foreach (EndpointLru endpoint in directory.Endpoints)
            ids[i++] = endpoint.Id;
        return ids;
    }

    /// <summary>
    /// An endpoint's hashes, most recent first (tests and diagnostics; takes the endpoint's writer lock).
    /// Empty when the endpoint is unknown.
    /// </summary>
    public ulong[] GetEntries(int endpointId)
    {
        if (!Volatile.Read(ref _directory).TryGet(endpointId, out EndpointLru? endpoint))
            return [];
        lock (endpoint)
        {
            var hashes = new ulong[endpoint.Count];
            endpoint.CopyMostRecentFirst(hashes);
            return hashes;
        }
    }

    /// <summary>Ids of the endpoints holding <paramref name="hash"/> (lock-free read; tests and diagnostics).</summary>
    public int[] GetHolders(ulong hash)
    {
        EndpointDirectory directory = Volatile.Read(ref _directory);
        var counts = new int[directory.SlotCount];
        PrefixShardTable table = ShardOf(hash).Table;
        ulong word = table.ReadWord(hash);
        if (MembershipWord.IsOverflow(word))
        {
            ulong[]? bits = table.ReadOverflow(MembershipWord.OverflowIndex(word));
            if (bits is not null)
                MembershipWord.CountBits(bits, counts);
        }
        else
        {
            MembershipWord.CountInline(word, counts);
        }
        var holders = new List<int>();
        foreach (EndpointLru endpoint in directory.Endpoints)
        {
            if (endpoint.Slot < counts.Length && counts[endpoint.Slot] != 0)
                holders.Add(endpoint.Id);
        }
        holders.Sort();
        return [.. holders];
    }

    /// <summary>Distinct block hashes held by at least one endpoint.</summary>
    public long DistinctHashCount
    {
        get
        {
            long total = 0;
            foreach (PrefixIndexShard shard in _shards)
                total += shard.LiveKeys;
            return total;
        }
    }

    private PrefixIndexShard ShardOf(ulong hash) => _shards[(int)(hash >> _shardShift)];

    private EndpointLru? GetOrAdd(int endpointId, int capacity)
    {
        if (Volatile.Read(ref _directory).TryGet(endpointId, out EndpointLru? endpoint))
            return endpoint;

        lock (_registryLock)
        {
            if (_directory.TryGet(endpointId, out endpoint))
                return endpoint;
            int slot;
            if (_freeSlots.Count > 0)
            {
                // Lowest free slot first keeps bitsets short.
                slot = _freeSlots.Min;
                _freeSlots.Remove(slot);
            }
            else if (_nextSlot < MaxEndpoints)
            {
                slot = _nextSlot++;
            }
            else
            {
                return null;
            }
            endpoint = new EndpointLru(endpointId, slot, capacity);
            Volatile.Write(ref _directory, _directory.With(endpoint));
            return endpoint;
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowCountsTooShort() =>
        throw new ArgumentException("matchCounts must be at least as long as endpointIds.", "matchCounts");
}
