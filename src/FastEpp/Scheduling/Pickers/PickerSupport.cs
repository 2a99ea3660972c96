using System.Runtime.CompilerServices;

namespace FastEpp.Scheduling.Pickers;

/// <summary>Shared picker helpers: the random source, Fisher–Yates shuffle, and a stable top-k by key.</summary>
internal static class PickerSupport
{
    /// <summary>
    /// maxNumOfEndpoints: default 1, ≤ 0 → 1 (reference pickers' common parameter).
    /// </summary>
    public static int NormaliseMax(int value) => value <= 0 ? 1 : value;

    /// <summary>Shuffles both spans with the same permutation.</summary>
    public static void Shuffle(Random random, Span<int> items, Span<double> keys)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
            (keys[i], keys[j]) = (keys[j], keys[i]);
        }
    }

    /// <summary>
    /// Writes the <paramref name="result"/>.Length (at most items.Length) items with the largest keys,
    /// descending; among equal keys the earlier position wins (a stable sort). O(k·n) for the common
    /// small k, which keeps it allocation-free; the caller shuffles first to break ties at random.
    /// </summary>
    public static int TopK(ReadOnlySpan<int> items, Span<double> keys, Span<int> result)
    {
        int k = Math.Min(result.Length, items.Length);
        for (int r = 0; r < k; r++)
        {
            int best = -1;
            double bestKey = double.NegativeInfinity;
            for (int i = 0; i < keys.Length; i++)
            {
                double key = keys[i];
                if (double.IsNaN(key))
                    continue;
                if (best < 0 || key > bestKey)
                {
                    best = i;
                    bestKey = key;
                }
            }
            if (best < 0)
                return r;
            result[r] = items[best];
            keys[best] = double.NaN; // taken
        }
        return k;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Limit(int max, Span<int> result) => Math.Min(max, result.Length);
}
