using FastEpp.Configuration;

namespace FastEpp.Scheduling.Pickers;

/// <summary>
/// <c>weighted-random-picker</c>: A-Res reservoir sampling. If no total is &gt; 0 it behaves exactly like
/// <c>random-picker</c>. Otherwise each candidate with total s &gt; 0 gets key u^(1/s) (u uniform in [0,1),
/// 0 → 1e-10), others key 0, and the <c>maxNumOfEndpoints</c> largest keys win (zero keys can fill the
/// remaining slots). The first pick's probability is proportional to s. Parameter: <c>maxNumOfEndpoints</c>.
/// </summary>
internal sealed class WeightedRandomPicker(string name, int maxNumOfEndpoints = 1, Random? random = null) : Picker(name, maxNumOfEndpoints, random)
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = TypeOf("weighted-random-picker", static (n, max, random) => new WeightedRandomPicker(n, max, random));

    public override string TypeName => Type.Name;

    protected override int PickTop(Span<int> candidates, Span<double> totals, Span<int> result, int k)
    {
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
            return PickRandom(Random, candidates, k, result);

        for (int i = 0; i < totals.Length; i++)
        {
            double s = totals[i];
            if (s > 0)
            {
                double u = Random.NextDouble();
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
        Shuffle(Random, candidates, totals);
        return TopK(candidates, totals, result[..k]);
    }
}
