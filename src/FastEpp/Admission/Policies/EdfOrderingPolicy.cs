using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary><c>edf-ordering-policy</c>: earliest TTL deadline first (no TTL: after every request that has one).</summary>
internal sealed class EdfOrderingPolicy(string name) : Plugin(name), IOrderingPolicy
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("edf-ordering-policy", static (name, p, c) => new EdfOrderingPolicy(name));

    public override string TypeName => Type.Name;

    public long OrderKey(long now, long ttlDeadline, long sloTtftMs, long ticksPerSecond) => ttlDeadline;
}
