using FastEpp.Configuration;

namespace FastEpp.Scheduling.Pickers;

/// <summary>
/// <c>random-picker</c>: a uniformly random subset of <c>maxNumOfEndpoints</c> candidates (scores ignored),
/// in random order. Parameter: <c>maxNumOfEndpoints</c> (1; ≤ 0 → 1).
/// </summary>
internal sealed class RandomPicker(string name, int maxNumOfEndpoints = 1, Random? random = null) : Picker(name, maxNumOfEndpoints, random)
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = TypeOf("random-picker", static (n, max, random) => new RandomPicker(n, max, random));

    public override string TypeName => Type.Name;

    protected override int PickTop(Span<int> candidates, Span<double> totals, Span<int> result, int k) =>
        PickRandom(Random, candidates, k, result);
}
