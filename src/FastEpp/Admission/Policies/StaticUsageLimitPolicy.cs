using FastEpp.Plugins;

namespace FastEpp.Admission.Policies;

/// <summary><c>static-usage-limit-policy</c> (the default): one ceiling for every band. Parameter: threshold (1.0).</summary>
internal sealed class StaticUsageLimitPolicy(string name, double threshold = 1.0) : IUsageLimitPolicy
{
    public static readonly StaticUsageLimitPolicy Default = new(PluginTypes.StaticUsageLimitPolicy);

    public string TypeName => PluginTypes.StaticUsageLimitPolicy;

    public string Name { get; } = name;

    public double Threshold { get; } = threshold;

    public double Ceiling(int priority) => Threshold;
}
