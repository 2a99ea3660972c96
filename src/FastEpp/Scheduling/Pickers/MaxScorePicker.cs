using FastEpp.Configuration;

namespace FastEpp.Scheduling.Pickers;

/// <summary>
/// <c>max-score-picker</c> (Distribution). Shuffles the candidates uniformly, then keeps the
/// <c>maxNumOfEndpoints</c> highest totals in descending order with a stable order among equals, so ties are
/// broken uniformly at random and fallbacks follow best-first. Parameter: <c>maxNumOfEndpoints</c> (1; ≤ 0 → 1).
/// Thread-safe: randomness from <see cref="Random.Shared"/> (per-thread state, seeded per process).
/// </summary>
internal sealed class MaxScorePicker(string name, int maxNumOfEndpoints = 1, Random? random = null) : Picker(name, maxNumOfEndpoints, random)
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = TypeOf("max-score-picker", static (n, max, random) => new MaxScorePicker(n, max, random));

    public override string TypeName => Type.Name;

    protected override int PickTop(Span<int> candidates, Span<double> totals, Span<int> result, int k)
    {
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
                else if (totals[i] == totals[best] && Random.Next(++ties) == 0)
                {
                    best = i;
                }
            }
            result[0] = candidates[best];
            return 1;
        }
        Shuffle(Random, candidates, totals);
        return TopK(candidates, totals, result[..k]);
    }
}
