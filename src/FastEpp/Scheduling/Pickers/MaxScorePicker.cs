using FastEpp.Configuration;

namespace FastEpp.Scheduling.Pickers;

/// <summary>
/// <c>max-score-picker</c> (Distribution). Shuffles the candidates uniformly, then keeps the
/// <c>maxNumOfEndpoints</c> highest totals in descending order with a stable order among equals, so ties are
/// broken uniformly at random and fallbacks follow best-first. Parameter: <c>maxNumOfEndpoints</c> (1; ≤ 0 → 1).
/// Thread-safe: randomness from <see cref="Random.Shared"/> (per-thread state, seeded per process).
/// </summary>
internal sealed class MaxScorePicker : IPicker
{
    private readonly Random _random;

    public MaxScorePicker(string name, int maxNumOfEndpoints = 1, Random? random = null)
    {
        Name = name;
        MaxEndpoints = PickerSupport.NormaliseMax(maxNumOfEndpoints);
        _random = random ?? Random.Shared;
    }

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("max-score-picker", static (n, p, c) => new MaxScorePicker(n, p.GetInt("maxNumOfEndpoints", 1), c.Random));

    public string TypeName => Type.Name;

    public string Name { get; }

    public int MaxEndpoints { get; }

    public int Pick(in SchedulingContext ctx, Span<int> candidates, Span<double> totals, Span<int> result)
    {
        int k = Math.Min(PickerSupport.Limit(MaxEndpoints, result), candidates.Length);
        if (k <= 0)
            return 0;
        if (k == 1)
        {
            // Reservoir sampling over the maxima: uniform among ties without shuffling everything.
            int best = 0;
            int ties = 1;
            for (int i = 1; i < totals.Length; i++)
            {
                if (totals[i] > totals[best] || double.IsNaN(totals[best]))
                {
                    best = i;
                    ties = 1;
                }
                else if (totals[i] == totals[best] && _random.Next(++ties) == 0)
                {
                    best = i;
                }
            }
            result[0] = candidates[best];
            return 1;
        }
        PickerSupport.Shuffle(_random, candidates, totals);
        return PickerSupport.TopK(candidates, totals, result[..k]);
    }
}
