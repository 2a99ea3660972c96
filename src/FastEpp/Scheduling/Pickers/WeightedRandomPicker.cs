using FastEpp.Configuration;

namespace FastEpp.Scheduling.Pickers;

/// <summary>
/// <c>weighted-random-picker</c>: A-Res reservoir sampling. If no total is &gt; 0 it behaves exactly like
/// <c>random-picker</c>. Otherwise each candidate with total s &gt; 0 gets key u^(1/s) (u uniform in [0,1),
/// 0 → 1e-10), others key 0, and the <c>maxNumOfEndpoints</c> largest keys win (zero keys can fill the
/// remaining slots). The first pick's probability is proportional to s. Parameter: <c>maxNumOfEndpoints</c>.
/// </summary>
internal sealed class WeightedRandomPicker : IPicker
{
    private readonly Random _random;

    public WeightedRandomPicker(string name, int maxNumOfEndpoints = 1, Random? random = null)
    {
        Name = name;
        MaxEndpoints = PickerSupport.NormaliseMax(maxNumOfEndpoints);
        _random = random ?? Random.Shared;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("weighted-random-picker", static (n, p, c) => new WeightedRandomPicker(n, p.GetInt("maxNumOfEndpoints", 1), c.Random));

    public string TypeName => Type.Name;

    public string Name { get; }

    public int MaxEndpoints { get; }

    public int Pick(in SchedulingContext ctx, Span<int> candidates, Span<double> totals, Span<int> result)
    {
        int k = Math.Min(PickerSupport.Limit(MaxEndpoints, result), candidates.Length);
        if (k <= 0)
            return 0;
        bool anyPositive = false;
        foreach (double s in totals)
        {
            if (s > 0)
            {
                anyPositive = true;
                break;
            }
        }
        if (!anyPositive)
            return RandomPicker.PickRandom(_random, candidates, k, result);

        for (int i = 0; i < totals.Length; i++)
        {
            double s = totals[i];
            if (s > 0)
            {
                double u = _random.NextDouble();
                if (u == 0)
                    u = 1e-10;
                totals[i] = Math.Pow(u, 1 / s);
            }
            else
            {
                totals[i] = 0;
            }
        }
        // The reference sorts unstably; shuffling first makes equal (zero) keys fill slots at random.
        PickerSupport.Shuffle(_random, candidates, totals);
        return PickerSupport.TopK(candidates, totals, result[..k]);
    }
}
