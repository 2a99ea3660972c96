namespace FastEpp.Prefix;

/// <summary>
/// One endpoint's LRU of block hashes (spec scheduling.md §3.5), with its dense slot in the membership words.
/// Writer-only: every member is used under <c>lock (this)</c>; readers of the index never touch it.
/// Storage grows by doubling up to <see cref="Capacity"/> (fixed at creation), so an idle endpoint with a
/// large reported CacheNumBlocks costs nothing up front. Nodes form a doubly linked list through array
/// indices (head = most recent); a linear-probing index of node numbers finds a hash's node.
/// </summary>
internal sealed class EndpointLru
{
    private const int MinNodes = 16;

    /// <summary>
    /// Cap on a reported capacity (64M blocks ≈ 4 GiB of index for one endpoint): a bogus CacheNumBlocks must not
    /// let one endpoint's arrays overflow. Real servers report well below it.
    /// </summary>
    public const int MaxCapacity = 1 << 26;

    private Node[] _nodes = [];
    private int[] _buckets = [];   // node index + 1; 0 = empty
    private int _count;
    private int _head = -1;        // most recent
    private int _tail = -1;        // least recent

    public EndpointLru(int id, int slot, int capacity)
    {
        Id = id;
        Slot = slot;
        Capacity = Math.Clamp(capacity, 1, MaxCapacity);
    }

    public int Id { get; }

    /// <summary>Dense slot of this endpoint in membership words/bitsets; reused only after the endpoint is gone.</summary>
    public int Slot { get; }

    public int Capacity { get; }

    /// <summary>Set (under the lock) once the endpoint was removed; writers that find it set must look up again.</summary>
    public bool Removed { get; set; }

    public int Count => _count;

    public long ApproximateBytes => 96 + (long)_nodes.Length * 16 + (long)_buckets.Length * sizeof(int);

    /// <summary>
    /// Marks <paramref name="hash"/> most recently used. Returns true when it was not present; then, if the LRU
    /// was full, the least recent hash was dropped and is returned in <paramref name="evictedHash"/>.
    /// </summary>
    public bool Touch(ulong hash, out bool evicted, out ulong evictedHash)
    {
        evicted = false;
        evictedHash = 0;
        int bucket = FindBucket(hash);
        int existing = _buckets[bucket] - 1;
        if (existing >= 0)
        {
            MoveToHead(existing);
            return false;
        }

        int node;
        if (_count < Capacity)
        {
            if (_count == _nodes.Length)
            {
                Grow();
                bucket = FindBucket(hash);
            }
            node = _count++;
        }
        else
        {
            node = _tail;
            evicted = true;
            evictedHash = _nodes[node].Hash;
            Unlink(node);
            RemoveFromBuckets(evictedHash);
            bucket = FindBucket(hash);
        }

        _nodes[node].Hash = hash;
        _buckets[bucket] = node + 1;
        LinkAtHead(node);
        return true;
    }

    /// <summary>Copies the hashes, most recent first, into <paramref name="destination"/>; returns the count.</summary>
    public int CopyMostRecentFirst(Span<ulong> destination)
    {
        int written = 0;
        for (int node = _head; node >= 0 && written < destination.Length; node = _nodes[node].Next)
            destination[written++] = _nodes[node].Hash;
        return written;
    }

    /// <summary>Drops everything and releases the storage.</summary>
    public void Clear()
    {
        _nodes = [];
        _buckets = [];
        _count = 0;
        _head = _tail = -1;
    }

    private void Grow()
    {
        int length = (int)Math.Min(Capacity, Math.Max(MinNodes, (long)_nodes.Length * 2));
        Array.Resize(ref _nodes, length);
        int bucketCount = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)length * 2);
        _buckets = new int[bucketCount];
        for (int node = 0; node < _count; node++)
            _buckets[FindBucket(_nodes[node].Hash)] = node + 1;
    }

    /// <summary>Bucket holding <paramref name="hash"/>, or the empty bucket where it would go.</summary>
    private int FindBucket(ulong hash)
    {
        int[] buckets = _buckets;
        if (buckets.Length == 0)
        {
            Grow();
            buckets = _buckets;
        }
        int mask = buckets.Length - 1;
        int i = Home(hash, mask);
        while (true)
        {
            int entry = buckets[i];
            if (entry == 0 || _nodes[entry - 1].Hash == hash)
                return i;
            i = (i + 1) & mask;
        }
    }

    // The shard already used the top bits and the shard table the low bits; mixing keeps this table independent.
    private static int Home(ulong hash, int mask) => (int)((hash ^ (hash >> 29)) * 0x9E3779B97F4A7C15UL >> 32) & mask;

    /// <summary>Backward-shift deletion: keeps probe chains intact without tombstones.</summary>
    private void RemoveFromBuckets(ulong hash)
    {
        int[] buckets = _buckets;
        int mask = buckets.Length - 1;
        int hole = FindBucket(hash);
        int j = hole;
        while (true)
        {
            j = (j + 1) & mask;
            int entry = buckets[j];
            if (entry == 0)
                break;
            int home = Home(_nodes[entry - 1].Hash, mask);
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            bool homeBetween = hole <= j ? home > hole && home <= j : home > hole || home <= j;
            if (!homeBetween)
            {
                buckets[hole] = entry;
                hole = j;
            }
        }
        buckets[hole] = 0;
    }

    private void MoveToHead(int node)
    {
        if (node == _head)
            return;
        Unlink(node);
        LinkAtHead(node);
    }

    private void Unlink(int node)
    {
        ref Node n = ref _nodes[node];
        if (n.Prev >= 0)
            _nodes[n.Prev].Next = n.Next;
        else
            _head = n.Next;
        if (n.Next >= 0)
            _nodes[n.Next].Prev = n.Prev;
        else
            _tail = n.Prev;
    }

    private void LinkAtHead(int node)
    {
        ref Node n = ref _nodes[node];
        n.Prev = -1;
        n.Next = _head;
        if (_head >= 0)
            _nodes[_head].Prev = node;
        _head = node;
        if (_tail < 0)
            _tail = node;
    }

    private struct Node
    {
        public ulong Hash;
        public int Prev;   // towards the head (more recent)
        public int Next;   // towards the tail (less recent)
    }
}
