using FastEpp.Configuration;

namespace FastEpp.Admission.Policies;

/// <summary><c>static-usage-limit-policy</c> (the default): one ceiling for every band. Parameter: threshold (1.0).</summary>
internal sealed class StaticUsageLimitPolicy(string name, double threshold = 1.0) : IUsageLimitPolicy
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("static-usage-limit-policy", static (name, p, c) => new StaticUsageLimitPolicy(name, p.GetDouble("threshold", 1.0)));

    public static readonly StaticUsageLimitPolicy Default = new(Type.Name);

    public string TypeName => Type.Name;

    public string Name { get; } = name;

    public double Threshold { get; } = threshold;

    public double Ceiling(int priority) => Threshold;
}
