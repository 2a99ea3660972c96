using FastEpp.Configuration;

namespace FastEpp.Scheduling.Pickers;

/// <summary>
/// <c>random-picker</c>: a uniformly random subset of <c>maxNumOfEndpoints</c> candidates (scores ignored),
/// in random order. Parameter: <c>maxNumOfEndpoints</c> (1; ≤ 0 → 1).
/// </summary>
internal sealed class RandomPicker : IPicker
{
    private readonly Random _random;

    public RandomPicker(string name, int maxNumOfEndpoints = 1, Random? random = null)
    {
        Name = name;
        MaxEndpoints = PickerSupport.NormaliseMax(maxNumOfEndpoints);
        _random = random ?? Random.Shared;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("random-picker", static (n, p, c) => new RandomPicker(n, p.GetInt("maxNumOfEndpoints", 1), c.Random));

    public string TypeName => Type.Name;

    public string Name { get; }

    public int MaxEndpoints { get; }

    public int Pick(in SchedulingContext ctx, Span<int> candidates, Span<double> totals, Span<int> result) =>
        PickRandom(_random, candidates, Math.Min(PickerSupport.Limit(MaxEndpoints, result), candidates.Length), result);

    /// <summary>Partial Fisher–Yates: the first k positions become a uniform random k-subset.</summary>
    internal static int PickRandom(Random random, Span<int> candidates, int k, Span<int> result)
    {
        for (int i = 0; i < k; i++)
        {
            int j = i + random.Next(candidates.Length - i);
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
            result[i] = candidates[i];
        }
        return Math.Max(k, 0);
    }
}
