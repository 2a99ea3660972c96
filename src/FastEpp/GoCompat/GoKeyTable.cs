using System.Text;
using System.Text.Json;

namespace FastEpp.GoCompat;

/// <summary>
/// The JSON keys one decoder looks for, each with how Go matches it (<see cref="GoKeyMatch"/>) and what it
/// means to the caller: key classification as data instead of if-chains. Built once at start-up; the first
/// matching entry wins, so exact map keys go before folded struct fields. FAST PATH: every key of every body
/// (and of every usage object in responses) is looked up in one of these.
/// </summary>
/// <typeparam name="TKey">The caller's key enum.</typeparam>
internal sealed class GoKeyTable<TKey>
    where TKey : struct
{
    private readonly Entry[] _entries;
    private readonly TKey _other;
    private readonly int _maxRawBytes;

    /// <param name="other">What a key that matches no entry is.</param>
    /// <param name="maxRawBytes">Escaped names longer than this many raw bytes are <paramref name="other"/>.</param>
    /// <param name="entries">Field name (lower-case ASCII for <see cref="GoKeyMatch.Fold"/>), match rule, meaning.</param>
    public GoKeyTable(TKey other, int maxRawBytes, params (string Name, GoKeyMatch Match, TKey Key)[] entries)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxRawBytes, GoJsonReader.MaxNameRawBytes);
        _other = other;
        _maxRawBytes = maxRawBytes;
        _entries = new Entry[entries.Length];
        for (int i = 0; i < entries.Length; i++)
        {
            _entries[i] = new Entry(Encoding.UTF8.GetBytes(entries[i].Name), entries[i].Match, entries[i].Key);
        }
    }

    public GoKeyTable(TKey other, params (string Name, GoKeyMatch Match, TKey Key)[] entries)
        : this(other, GoJsonReader.MaxNameRawBytes, entries)
    {
    }

    /// <summary>The meaning of an unescaped key.</summary>
    public TKey Find(ReadOnlySpan<byte> key)
    {
        foreach (Entry e in _entries)
        {
            // Length first (a folded name is never shorter than its ASCII spelling): most rows cost one compare.
            if (key.Length < e.Name.Length || (e.Match == GoKeyMatch.Exact && key.Length != e.Name.Length))
            {
                continue;
            }

            if (GoFieldName.Matches(key, e.Name, e.Match))
            {
                return e.Key;
            }
        }

        return _other;
    }

    /// <summary>The meaning of the reader's current property name (unescaped only when it has escapes or spans segments).</summary>
    public TKey Classify(ref Utf8JsonReader reader)
    {
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            return Find(reader.ValueSpan);
        }

        Span<byte> buf = stackalloc byte[3 * GoJsonReader.MaxNameRawBytes];
        int n = GoJsonReader.TryUnescape(ref reader, buf[..(3 * _maxRawBytes)]);
        return n < 0 ? _other : Find(buf[..n]);
    }

    private readonly record struct Entry(byte[] Name, GoKeyMatch Match, TKey Key);
}
