using FastEpp.Configuration;

namespace FastEpp.Scheduling.Pickers;

/// <summary>
/// What the reference's pickers share: the name, <c>maxNumOfEndpoints</c> (default 1, ≤ 0 → 1), the random source
/// (<see cref="Random.Shared"/> unless a test injects one) and how many endpoints one pick may return. A picker
/// implements <see cref="PickTop"/> for k ≥ 1.
/// </summary>
internal abstract class Picker : Plugin, IPicker
{
    protected Picker(string name, int maxNumOfEndpoints, Random? random)
        : base(name)
    {
        MaxEndpoints = maxNumOfEndpoints <= 0 ? 1 : maxNumOfEndpoints;
        Random = random ?? Random.Shared;
    }

    public int MaxEndpoints { get; }

    protected Random Random { get; }

    public int Pick(in SchedulingContext ctx, Span<int> candidates, Span<double> totals, Span<int> result)
    {
        int k = Math.Min(Math.Min(MaxEndpoints, result.Length), candidates.Length);
        return k <= 0 ? 0 : PickTop(candidates, totals, result, k);
    }

    /// <summary>Writes up to <paramref name="k"/> (≥ 1) endpoint indices into <paramref name="result"/>, best first; returns how many.</summary>
    protected abstract int PickTop(Span<int> candidates, Span<double> totals, Span<int> result, int k);

    /// <summary>A picker type: its one parameter is <c>maxNumOfEndpoints</c>; randomness comes from the context.</summary>
    protected static PluginType TypeOf(string type, Func<string, int, Random?, Picker> create) =>
        new(type, (n, p, c) => create(n, p.GetInt("maxNumOfEndpoints", 1), c.Random));

    /// <summary>Shuffles both spans with the same permutation.</summary>
    protected static void Shuffle(Random random, Span<int> items, Span<double> keys)
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
    protected static int TopK(ReadOnlySpan<int> items, Span<double> keys, Span<int> result)
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

    /// <summary>Partial Fisher–Yates: the first k positions become a uniform random k-subset.</summary>
    protected static int PickRandom(Random random, Span<int> candidates, int k, Span<int> result)
    {
        for (int i = 0; i < k; i++)
        {
            int j = i + random.Next(candidates.Length - i);
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
            result[i] = candidates[i];
        }
        return k;
    }
}
