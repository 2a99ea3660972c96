using System.Runtime.CompilerServices;

namespace FastEpp.Prefix;

/// <summary>
/// One open-addressing (linear probing) table of block hash → <see cref="MembershipWord"/>.
/// Concurrency contract (see README.md):
/// <list type="number">
/// <item>Only the shard's writer (holding the shard lock) mutates an instance; readers never lock.</item>
/// <item>A slot's key is written once per instance (word first, then the key with release semantics) and never
/// changes or moves; a hash held by nobody keeps its key with word 0 (a tombstone). So a reader that finds the
/// key reads that key's word, and a reader that stops at an empty slot was right at that moment.</item>
/// <item>The table never exceeds 3/4 load, so a probe always ends (readers are wait-free).</item>
/// <item>Tombstones and growth are handled by building a new instance and publishing it; readers still
/// holding the old instance see a consistent, slightly older state.</item>
/// </list>
/// </summary>
internal sealed class PrefixShardTable
{
    public const int MinCapacity = 64;

    /// <summary>Interleaved [key, word] pairs so one probe touches one cache line. Key 0 = empty slot.</summary>
    public readonly ulong[] Slots;

    public readonly int Mask;

    /// <summary>Keys written into this instance (live + tombstones); bounded by <see cref="MaxUsed"/>.</summary>
    public int Used;

    /// <summary>Keys whose membership is not empty (writer bookkeeping, drives rehash sizing).</summary>
    public int Live;

    /// <summary>Membership of the hash value 0, which cannot be stored in <see cref="Slots"/> (0 marks empty).</summary>
    public ulong ZeroWord;

    /// <summary>Bitsets of overflow words; replaced (copied) when it grows. Entries are never reused in an instance.</summary>
    public ulong[]?[] Overflow;

    /// <summary>Number of set bits of each overflow bitset (writer-only).</summary>
    public int[] OverflowCounts;

    public int OverflowUsed;

    /// <summary>Bytes held by overflow bitsets (writer-maintained, read by the size gauge).</summary>
    public long OverflowBytes;

    public PrefixShardTable(int capacity)
    {
        Slots = new ulong[capacity * 2];
        Mask = capacity - 1;
        Overflow = [];
        OverflowCounts = [];
    }

    public int Capacity => Mask + 1;

    public int MaxUsed => Capacity / 4 * 3;

    /// <summary>Lock-free read of the membership of <paramref name="hash"/>; 0 when nobody holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadWord(ulong hash)
    {
        if (hash == 0)
            return Volatile.Read(ref ZeroWord);

        ulong[] slots = Slots;
        int mask = Mask;
        int i = (int)hash & mask;
        while (true)
        {
            ulong key = Volatile.Read(ref slots[i * 2]);
            if (key == hash)
                return Volatile.Read(ref slots[i * 2 + 1]);
            if (key == 0)
                return 0;
            i = (i + 1) & mask;
        }
    }

    /// <summary>Lock-free read of an overflow bitset referenced by a word read from this instance.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong[]? ReadOverflow(int index)
    {
        ulong[]?[] overflow = Volatile.Read(ref Overflow);
        return (uint)index < (uint)overflow.Length ? Volatile.Read(ref overflow[index]) : null;
    }

    /// <summary>
    /// Writer: when <paramref name="found"/>, the index of the word of <paramref name="hash"/> in
    /// <see cref="Slots"/> (-1 = <see cref="ZeroWord"/>, which always exists); otherwise the index of the key of
    /// the empty slot that would take it.
    /// </summary>
    public int FindWordIndex(ulong hash, out bool found)
    {
        found = true;
        if (hash == 0)
            return -1;
        int i = (int)hash & Mask;
        while (true)
        {
            ulong key = Slots[i * 2];
            if (key == hash)
                return i * 2 + 1;
            if (key == 0)
            {
                found = false;
                return i * 2;
            }
            i = (i + 1) & Mask;
        }
    }

    public ref ulong WordAt(int wordIndex) => ref wordIndex < 0 ? ref ZeroWord : ref Slots[wordIndex];

    /// <summary>Writer: stores a bitset and returns its overflow index.</summary>
    public int AddOverflow(ulong[] bits, int count)
    {
        if (OverflowUsed == Overflow.Length)
        {
            int length = Math.Max(4, Overflow.Length * 2);
            var grown = new ulong[]?[length];
            Array.Copy(Overflow, grown, OverflowUsed);
            Array.Resize(ref OverflowCounts, length);
            // Readers holding an index read the array after reading the word, so they get this copy or a newer one.
            Volatile.Write(ref Overflow, grown);
        }
        int index = OverflowUsed++;
        OverflowCounts[index] = count;
        Volatile.Write(ref Overflow[index], bits);
        OverflowBytes += BitsetBytes(bits.Length);
        return index;
    }

    public static long BitsetBytes(int words) => 24 + (long)words * sizeof(ulong);
}
