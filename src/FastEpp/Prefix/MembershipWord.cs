using System.Numerics;
using System.Runtime.CompilerServices;

namespace FastEpp.Prefix;

/// <summary>
/// Encoding of "which endpoint slots hold this block hash" in one 64-bit word, so a reader gets a
/// consistent membership with a single atomic load:
/// <list type="bullet">
/// <item>bit 63 clear — inline: three 21-bit fields, each 0 (unused) or slot + 1. All fields 0 = nobody holds it.</item>
/// <item>bit 63 set — overflow: the low 31 bits index a bitset over slots in the shard table's overflow list
/// (used once a hash is held by more than three endpoints, e.g. a shared system prompt).</item>
/// </list>
/// </summary>
internal static class MembershipWord
{
    public const int InlineFields = 3;
    public const int FieldBits = 21;
    public const ulong FieldMask = (1UL << FieldBits) - 1;
    public const ulong OverflowFlag = 1UL << 63;

    /// <summary>Largest slot an inline field can hold (field value = slot + 1).</summary>
    public const int MaxSlot = (int)FieldMask - 1;

    public static bool IsOverflow(ulong word) => (word & OverflowFlag) != 0;

    public static int OverflowIndex(ulong word) => (int)(word & int.MaxValue);

    public static ulong Overflow(int index) => OverflowFlag | (uint)index;

    public static ulong Single(int slot) => (ulong)(slot + 1);

    /// <summary>Slot in inline field <paramref name="field"/>, or -1 when the field is unused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SlotAt(ulong word, int field) => (int)((word >> (field * FieldBits)) & FieldMask) - 1;

    public static bool InlineContains(ulong word, int slot)
    {
        for (int f = 0; f < InlineFields; f++)
        {
            if (SlotAt(word, f) == slot)
                return true;
        }
        return false;
    }

    /// <summary>Adds <paramref name="slot"/> to a free field; false when all three are in use.</summary>
    public static bool TryAddInline(ref ulong word, int slot)
    {
        for (int f = 0; f < InlineFields; f++)
        {
            if (SlotAt(word, f) < 0)
            {
                word |= (ulong)(slot + 1) << (f * FieldBits);
                return true;
            }
        }
        return false;
    }

    public static ulong RemoveInline(ulong word, int slot)
    {
        for (int f = 0; f < InlineFields; f++)
        {
            if (SlotAt(word, f) == slot)
                word &= ~(FieldMask << (f * FieldBits));
        }
        return word;
    }

    public static int InlineCount(ulong word)
    {
        int count = 0;
        for (int f = 0; f < InlineFields; f++)
        {
            if (SlotAt(word, f) >= 0)
                count++;
        }
        return count;
    }

    /// <summary>Builds an inline word from the set bits of a bitset holding at most three slots.</summary>
    public static ulong FromBits(ReadOnlySpan<ulong> bits)
    {
        ulong word = 0;
        for (int i = 0; i < bits.Length; i++)
        {
            ulong w = bits[i];
            while (w != 0)
            {
                int slot = (i << 6) + BitOperations.TrailingZeroCount(w);
                TryAddInline(ref word, slot);
                w &= w - 1;
            }
        }
        return word;
    }

    /// <summary>Adds one to <paramref name="counts"/>[slot] for every inline slot below counts.Length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CountInline(ulong word, Span<int> counts)
    {
        for (int f = 0; f < InlineFields; f++)
        {
            int slot = SlotAt(word, f);
            if ((uint)slot < (uint)counts.Length)
                counts[slot]++;
        }
    }

    /// <summary>
    /// Adds one to counts[slot] for every set bit; returns false when no bit is set (the hash is held by nobody).
    /// The words are read one at a time while a writer may flip bits: each bit is an independent fact.
    /// </summary>
    public static bool CountBits(ulong[] bits, Span<int> counts)
    {
        bool any = false;
        for (int i = 0; i < bits.Length; i++)
        {
            ulong w = Volatile.Read(ref bits[i]);
            if (w == 0)
                continue;
            any = true;
            int baseSlot = i << 6;
            do
            {
                int slot = baseSlot + BitOperations.TrailingZeroCount(w);
                if ((uint)slot < (uint)counts.Length)
                    counts[slot]++;
                w &= w - 1;
            }
            while (w != 0);
        }
        return any;
    }

    /// <summary>Adds <paramref name="amount"/> to counts[slot] for every inline slot below counts.Length.</summary>
    public static void AddInline(ulong word, int amount, Span<int> counts)
    {
        for (int f = 0; f < InlineFields; f++)
        {
            int slot = SlotAt(word, f);
            if ((uint)slot < (uint)counts.Length)
                counts[slot] += amount;
        }
    }

    /// <summary>Adds <paramref name="amount"/> to counts[slot] for every set bit below counts.Length.</summary>
    public static void AddBits(ReadOnlySpan<ulong> bits, int amount, Span<int> counts)
    {
        for (int i = 0; i < bits.Length; i++)
        {
            ulong w = bits[i];
            int baseSlot = i << 6;
            while (w != 0)
            {
                int slot = baseSlot + BitOperations.TrailingZeroCount(w);
                if ((uint)slot < (uint)counts.Length)
                    counts[slot] += amount;
                w &= w - 1;
            }
        }
    }
}
