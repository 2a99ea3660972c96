using System.Collections.Concurrent;

namespace FastEpp.Observability;

/// <summary>A cumulative histogram with fixed upper bounds; lock-free, allocation-free observations.</summary>
internal sealed class Histogram
{
    private readonly double[] _bounds;
    private readonly long[] _counts; // per bucket (not cumulative); the last slot is +Inf
    private long _sumBits;
    private long _count;

    public Histogram(double[] bounds)
    {
        _bounds = bounds;
        _counts = new long[bounds.Length + 1];
    }

    public void Observe(double value)
    {
        int i = 0;
        while (i < _bounds.Length && value > _bounds[i])
            i++;
        Interlocked.Increment(ref _counts[i]);
        long old, updated;
        do
        {
            old = Volatile.Read(ref _sumBits);
            updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(old) + value);
        }
        while (Interlocked.CompareExchange(ref _sumBits, updated, old) != old);
        Interlocked.Increment(ref _count);
    }

    public long Count => Interlocked.Read(ref _count);

    public double Sum => BitConverter.Int64BitsToDouble(Volatile.Read(ref _sumBits));

    /// <summary>Writes the _bucket/_sum/_count lines; <paramref name="labels"/> is the rendered label list without braces.</summary>
    public void Write(ExpositionWriter writer, string name, string labels)
    {
        long cumulative = 0;
        for (int i = 0; i <= _bounds.Length; i++)
        {
            cumulative += Interlocked.Read(ref _counts[i]);
            writer.Bucket(name, labels, i < _bounds.Length ? _bounds[i] : double.PositiveInfinity, cumulative);
        }
        writer.Sum(name, labels, Sum);
        writer.Count(name, labels, Math.Max(cumulative, Count));
    }
}

/// <summary>A float64 cell (counter or gauge) updated with compare-and-swap.</summary>
internal sealed class ValueCell
{
    private long _bits;

    public void Add(double delta)
    {
        long old, updated;
        do
        {
            old = Volatile.Read(ref _bits);
            updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(old) + delta);
        }
        while (Interlocked.CompareExchange(ref _bits, updated, old) != old);
    }

    public void Set(double value) => Volatile.Write(ref _bits, BitConverter.DoubleToInt64Bits(value));

    public double Value => BitConverter.Int64BitsToDouble(Volatile.Read(ref _bits));
}

/// <summary>
/// One metric family with a label set per key, created lazily on first use (as the Go client's *Vec types:
/// no zero series before the first observation, no HELP/TYPE without a series). Lookups of an existing key
/// allocate nothing. <typeparamref name="TKey"/> renders its labels once, when the series is created.
/// </summary>
internal sealed class Family<TKey, TCell>(string name, string help, string type, Func<TCell> create, Func<TKey, string> labels)
    where TKey : notnull, IEquatable<TKey>
    where TCell : class
{
    private readonly ConcurrentDictionary<TKey, (string Labels, TCell Cell)> _series = new();

    public string Name => name;

    public TCell this[TKey key]
    {
        get
        {
            if (_series.TryGetValue(key, out var found))
                return found.Cell;
            return _series.GetOrAdd(key, static (k, s) => (s.Labels(k), s.Create()), (Labels: labels, Create: create)).Cell;
        }
    }

    public int Count => _series.Count;

    public void Write(ExpositionWriter writer)
    {
        if (_series.IsEmpty)
            return;
        var rows = new List<(string Labels, TCell Cell)>(_series.Count);
        foreach (var row in _series.Values)
            if (row.Cell is not Histogram { Count: 0 }) // pre-resolved histograms appear with their first observation
                rows.Add(row);
        if (rows.Count == 0)
            return;
        rows.Sort(static (a, b) => string.CompareOrdinal(a.Labels, b.Labels));
        writer.Family(name, help, type);
        foreach (var (rowLabels, cell) in rows)
        {
            switch (cell)
            {
                case Histogram h:
                    h.Write(writer, name, rowLabels);
                    break;
                case ValueCell v:
                    writer.Sample(name, rowLabels, v.Value);
                    break;
            }
        }
    }
}
