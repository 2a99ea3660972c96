using System.IO.Hashing;
using System.Text;

namespace FastEpp.Body;

/// <summary>
/// A small, bounded, lock-free cache from UTF-8 bytes to an interned string (model names, cache salts),
/// so a warm request path does not allocate for names it has seen. Entries are immutable and published
/// with a single reference write; a racing miss only costs one extra allocation. Two-way set associative
/// with round-robin replacement; long values (over <see cref="MaxCachedBytes"/>) are never cached.
/// </summary>
internal sealed class Utf8InternCache
{
    public const int MaxCachedBytes = 256;

    private readonly Entry?[] _slots;
    private readonly int _mask;
    private int _victim;

    public Utf8InternCache(int capacity = 256)
    {
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2));
        _slots = new Entry?[size];
        _mask = size - 1;
    }

    /// <summary>Shared cache for model names.</summary>
    public static Utf8InternCache Models { get; } = new();

    /// <summary>Shared cache for cache_salt values.</summary>
    public static Utf8InternCache Salts { get; } = new();

    /// <summary>Returns the cached entry for <paramref name="utf8"/> (valid UTF-8), adding it on a miss.</summary>
    public Entry Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxCachedBytes)
        {
            return new Entry(utf8.ToArray(), Encoding.UTF8.GetString(utf8), 0);
        }

        ulong hash = XxHash3.HashToUInt64(utf8);
        int slot = (int)hash & _mask;
        int other = slot ^ 1;
        Entry? e = Volatile.Read(ref _slots[slot]);
        if (e is not null && e.Hash == hash && utf8.SequenceEqual(e.Utf8))
        {
            return e;
        }

        e = Volatile.Read(ref _slots[other]);
        if (e is not null && e.Hash == hash && utf8.SequenceEqual(e.Utf8))
        {
            return e;
        }

        var created = new Entry(utf8.ToArray(), Encoding.UTF8.GetString(utf8), hash);
        int target = (Interlocked.Increment(ref _victim) & 1) == 0 ? slot : other;
        Volatile.Write(ref _slots[target], created);
        return created;
    }

    /// <summary>An interned value: its UTF-8 bytes and its string.</summary>
    internal sealed class Entry(byte[] utf8, string value, ulong hash)
    {
        public byte[] Utf8 { get; } = utf8;

        public string Value { get; } = value;

        public ulong Hash { get; } = hash;
    }
}
