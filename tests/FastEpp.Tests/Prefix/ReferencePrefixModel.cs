namespace FastEpp.Tests.Prefix;

/// <summary>
/// The reference's data structure written the obvious way (spec scheduling.md §3.5): hash → set of servers,
/// server → LRU (linked list + map), everything under one lock. The oracle for PrefixIndex tests.
/// </summary>
internal sealed class ReferencePrefixModel
{
    private readonly object _lock = new();
    private readonly Dictionary<ulong, HashSet<int>> _holders = [];
    private readonly Dictionary<int, Lru> _lrus = [];

    public long EntryCount
    {
        get
        {
            lock (_lock)
                return _lrus.Values.Sum(l => (long)l.List.Count);
        }
    }

    public int DistinctHashCount
    {
        get
        {
            lock (_lock)
                return _holders.Count;
        }
    }

    public IReadOnlyCollection<int> EndpointIds
    {
        get
        {
            lock (_lock)
                return [.. _lrus.Keys];
        }
    }

    public void Record(IReadOnlyList<ulong> hashes, int id, int capacity)
    {
        lock (_lock)
        {
            if (hashes.Count == 0)
                return;
            if (!_lrus.TryGetValue(id, out Lru? lru))
                _lrus[id] = lru = new Lru(Math.Max(1, capacity));
            foreach (ulong h in hashes)
            {
                if (lru.Nodes.TryGetValue(h, out LinkedListNode<ulong>? node))
                {
                    lru.List.Remove(node);
                    lru.List.AddFirst(node);
                }
                else
                {
                    if (lru.List.Count == lru.Capacity)
                    {
                        ulong oldest = lru.List.Last!.Value;
                        lru.List.RemoveLast();
                        lru.Nodes.Remove(oldest);
                        RemoveHolder(oldest, id);
                    }
                    lru.Nodes[h] = lru.List.AddFirst(h);
                }
                if (!_holders.TryGetValue(h, out HashSet<int>? set))
                    _holders[h] = set = [];
                set.Add(id);
            }
        }
    }

    public void Remove(int id)
    {
        lock (_lock)
        {
            if (!_lrus.Remove(id, out Lru? lru))
                return;
            foreach (ulong h in lru.List)
                RemoveHolder(h, id);
        }
    }

    public void Retain(IEnumerable<int> live)
    {
        lock (_lock)
        {
            var keep = new HashSet<int>(live);
            foreach (int id in _lrus.Keys.Where(id => !keep.Contains(id)).ToList())
                Remove(id);
        }
    }

    public int Match(IReadOnlyList<ulong> hashes, IReadOnlyList<int> ids, int[] counts)
    {
        lock (_lock)
        {
            var byServer = new Dictionary<int, int>();
            int walked = 0;
            foreach (ulong h in hashes)
            {
                if (!_holders.TryGetValue(h, out HashSet<int>? set) || set.Count == 0)
                    break;
                foreach (int s in set)
                    byServer[s] = byServer.GetValueOrDefault(s) + 1;
                walked++;
            }
            for (int i = 0; i < ids.Count; i++)
                counts[i] = byServer.GetValueOrDefault(ids[i]);
            return walked;
        }
    }

    public ulong[] Entries(int id)
    {
        lock (_lock)
            return _lrus.TryGetValue(id, out Lru? lru) ? [.. lru.List] : [];
    }

    public int[] Holders(ulong hash)
    {
        lock (_lock)
            return _holders.TryGetValue(hash, out HashSet<int>? set) ? [.. set.Order()] : [];
    }

    private void RemoveHolder(ulong hash, int id)
    {
        HashSet<int> set = _holders[hash];
        set.Remove(id);
        if (set.Count == 0)
            _holders.Remove(hash);
    }

    private sealed class Lru(int capacity)
    {
        public int Capacity { get; } = capacity;
        public LinkedList<ulong> List { get; } = new();
        public Dictionary<ulong, LinkedListNode<ulong>> Nodes { get; } = [];
    }
}
