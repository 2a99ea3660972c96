using System.Numerics;

namespace FastEpp.Prefix;

/// <summary>
/// A slice of the block-hash space (selected by the top bits of the hash) with its own writer lock.
/// Readers only call <see cref="Table"/> and read the returned instance without locking; every mutation
/// happens under <see cref="_lock"/>, so there is a single writer per table instance at any time.
/// </summary>
internal sealed class PrefixIndexShard
{
    private readonly Lock _lock = new();
    private PrefixShardTable _table = new(PrefixShardTable.MinCapacity);

    /// <summary>The current table; readers load it once per lookup.</summary>
    public PrefixShardTable Table => Volatile.Read(ref _table);

    /// <summary>Records that <paramref name="slot"/> holds <paramref name="hash"/>.</summary>
    /// <param name="slotWords">Bitset length (in 64-bit words) that covers every slot currently assigned.</param>
    public void AddMember(ulong hash, int slot, int slotWords)
    {
        lock (_lock)
        {
            PrefixShardTable table = _table;
            int index = table.FindWordIndex(hash, out bool found);
            if (!found)
            {
                if (table.Used + 1 > table.MaxUsed)
                {
                    table = Rehash(table);
                    index = table.FindWordIndex(hash, out found);
                }
                if (!found)
                {
                    // Word before key: a reader that sees the key (acquire) also sees its word.
                    table.Slots[index + 1] = MembershipWord.Single(slot);
                    Volatile.Write(ref table.Slots[index], hash);
                    table.Used++;
                    table.Live++;
                    return;
                }
            }

            ref ulong wordRef = ref table.WordAt(index);
            ulong word = wordRef;
            if (MembershipWord.IsOverflow(word))
            {
                AddToBitset(table, MembershipWord.OverflowIndex(word), slot);
                return;
            }
            if (MembershipWord.InlineContains(word, slot))
                return;
            if (word == 0)
                table.Live++;
            if (MembershipWord.TryAddInline(ref word, slot))
            {
                Volatile.Write(ref wordRef, word);
                return;
            }

            // Fourth holder: move to a bitset, published fully built.
            var bits = new ulong[Math.Max(slotWords, (slot >> 6) + 1)];
            for (int f = 0; f < MembershipWord.InlineFields; f++)
                SetBit(bits, MembershipWord.SlotAt(word, f));
            SetBit(bits, slot);
            int overflowIndex = table.AddOverflow(bits, MembershipWord.InlineFields + 1);
            Volatile.Write(ref wordRef, MembershipWord.Overflow(overflowIndex));
        }
    }

    /// <summary>Records that <paramref name="slot"/> no longer holds <paramref name="hash"/> (no-op when it did not).</summary>
    public void RemoveMember(ulong hash, int slot)
    {
        lock (_lock)
        {
            PrefixShardTable table = _table;
            int index = table.FindWordIndex(hash, out bool found);
            if (!found)
                return;
            ref ulong wordRef = ref table.WordAt(index);
            ulong word = wordRef;
            if (MembershipWord.IsOverflow(word))
            {
                int overflowIndex = MembershipWord.OverflowIndex(word);
                ulong[] bits = table.Overflow[overflowIndex]!;
                int wordIndex = slot >> 6;
                ulong mask = 1UL << slot;
                if (wordIndex < bits.Length && (bits[wordIndex] & mask) != 0)
                {
                    Volatile.Write(ref bits[wordIndex], bits[wordIndex] & ~mask);
                    if (--table.OverflowCounts[overflowIndex] == 0)
                        table.Live--;
                }
                return;
            }
            if (word == 0)
                return;
            ulong updated = MembershipWord.RemoveInline(word, slot);
            if (updated == word)
                return;
            Volatile.Write(ref wordRef, updated);
            if (updated == 0)
                table.Live--;
        }
    }

    /// <summary>Writer-side size for the gauge: table arrays plus overflow bitsets.</summary>
    public long ApproximateBytes
    {
        get
        {
            PrefixShardTable table = Table;
            return 64 + (long)table.Slots.Length * sizeof(ulong) + (long)Volatile.Read(ref table.Overflow).Length * 12
                + Volatile.Read(ref table.OverflowBytes);
        }
    }

    /// <summary>Distinct hashes currently held by at least one endpoint.</summary>
    public int LiveKeys => Volatile.Read(ref Table.Live);

    private static void AddToBitset(PrefixShardTable table, int overflowIndex, int slot)
    {
        ulong[] bits = table.Overflow[overflowIndex]!;
        int wordIndex = slot >> 6;
        if (wordIndex >= bits.Length)
        {
            // A slot beyond the bitset: publish a longer copy (readers of the old one see a valid older state).
            var grown = new ulong[wordIndex + 1];
            bits.CopyTo(grown, 0);
            table.OverflowBytes += PrefixShardTable.BitsetBytes(grown.Length) - PrefixShardTable.BitsetBytes(bits.Length);
            Volatile.Write(ref table.Overflow[overflowIndex], grown);
            bits = grown;
        }
        ulong mask = 1UL << slot;
        if ((bits[wordIndex] & mask) != 0)
            return;
        Volatile.Write(ref bits[wordIndex], bits[wordIndex] | mask);
        if (table.OverflowCounts[overflowIndex]++ == 0)
            table.Live++;
    }

    private static void SetBit(ulong[] bits, int slot) => bits[slot >> 6] |= 1UL << slot;

    /// <summary>
    /// Builds a table holding only the live keys at ≤ 1/2 load and publishes it. Tombstones disappear and
    /// bitsets down to ≤ 3 holders become inline words again; the old instance is no longer written, so readers
    /// still on it keep a consistent view (bitsets that move over are shared and keep changing bit by bit).
    /// </summary>
    private PrefixShardTable Rehash(PrefixShardTable old)
    {
        int needed = (old.Live + 1) * 2;
        int capacity = Math.Max(PrefixShardTable.MinCapacity, (int)BitOperations.RoundUpToPowerOf2((uint)needed));
        var fresh = new PrefixShardTable(capacity);

        fresh.ZeroWord = CarryOver(old, fresh, old.ZeroWord);
        if (fresh.ZeroWord != 0)
            fresh.Live++;

        ulong[] slots = old.Slots;
        for (int i = 0; i < slots.Length; i += 2)
        {
            ulong key = slots[i];
            if (key == 0)
                continue;
            ulong word = CarryOver(old, fresh, slots[i + 1]);
            if (word == 0)
                continue;
            int index = fresh.FindWordIndex(key, out _);
            fresh.Slots[index] = key;
            fresh.Slots[index + 1] = word;
            fresh.Used++;
            fresh.Live++;
        }

        Volatile.Write(ref _table, fresh);
        return fresh;
    }

    private static ulong CarryOver(PrefixShardTable old, PrefixShardTable fresh, ulong word)
    {
        if (!MembershipWord.IsOverflow(word))
            return word;
        int overflowIndex = MembershipWord.OverflowIndex(word);
        int count = old.OverflowCounts[overflowIndex];
        ulong[] bits = old.Overflow[overflowIndex]!;
        if (count <= MembershipWord.InlineFields)
            return MembershipWord.FromBits(bits);
        return MembershipWord.Overflow(fresh.AddOverflow(bits, count));
    }
}
