using FastEpp.Configuration;

namespace FastEpp.Admission.Policies;

/// <summary><c>edf-ordering-policy</c>: earliest TTL deadline first (no TTL: after every request that has one).</summary>
internal sealed class EdfOrderingPolicy(string name) : IOrderingPolicy
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("edf-ordering-policy", static (name, p, c) => new EdfOrderingPolicy(name));

    public string TypeName => Type.Name;

    public string Name { get; } = name;

    public long OrderKey(long now, long ttlDeadline, long sloTtftMs, long ticksPerSecond) => ttlDeadline;
}
