namespace FastEpp.Benchmarks.Prefix;

/// <summary>
/// Baseline shaped like the reference indexer (spec scheduling.md §3.5): hash → HashSet of servers,
/// server → LinkedList LRU with a node map, one lock around both (the Go code uses an RW lock; .NET's
/// ReaderWriterLockSlim is slower than Monitor for these short sections), and a fresh count map per match.
/// </summary>
internal sealed class NaivePrefixIndex
{
    private readonly object _lock = new();
    private readonly Dictionary<ulong, HashSet<int>> _holders = [];
    private readonly Dictionary<int, Lru> _lrus = [];

    public int Match(ReadOnlySpan<ulong> hashes, ReadOnlySpan<int> endpointIds, Span<int> matchCounts)
    {
        var counts = new Dictionary<int, int>();
        int walked = 0;
        lock (_lock)
        {
            foreach (ulong hash in hashes)
            {
                if (!_holders.TryGetValue(hash, out HashSet<int>? set) || set.Count == 0)
                    break;
                foreach (int server in set)
                {
                    counts.TryGetValue(server, out int c);
                    counts[server] = c + 1;
                }
                walked++;
            }
        }
        for (int i = 0; i < endpointIds.Length; i++)
            matchCounts[i] = counts.GetValueOrDefault(endpointIds[i]);
        return walked;
    }

    public void Record(ReadOnlySpan<ulong> hashes, int endpointId, int capacity)
    {
        lock (_lock)
        {
            if (!_lrus.TryGetValue(endpointId, out Lru? lru))
                _lrus[endpointId] = lru = new Lru(capacity);
            foreach (ulong hash in hashes)
            {
                if (lru.Nodes.TryGetValue(hash, out LinkedListNode<ulong>? node))
                {
                    lru.List.Remove(node);
                    lru.List.AddFirst(node);
                    continue;
                }
                if (lru.List.Count >= lru.Capacity)
                {
                    LinkedListNode<ulong> oldest = lru.List.Last!;
                    lru.List.RemoveLast();
                    lru.Nodes.Remove(oldest.Value);
                    HashSet<int> holders = _holders[oldest.Value];
                    holders.Remove(endpointId);
                    if (holders.Count == 0)
                        _holders.Remove(oldest.Value);
                }
                lru.Nodes[hash] = lru.List.AddFirst(hash);
                if (!_holders.TryGetValue(hash, out HashSet<int>? set))
                    _holders[hash] = set = [];
                set.Add(endpointId);
            }
        }
    }

    private sealed class Lru(int capacity)
    {
        public int Capacity { get; } = capacity;
        public LinkedList<ulong> List { get; } = new();
        public Dictionary<ulong, LinkedListNode<ulong>> Nodes { get; } = [];
    }
}
