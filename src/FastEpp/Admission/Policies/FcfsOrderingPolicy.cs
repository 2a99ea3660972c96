using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary><c>fcfs-ordering-policy</c> (the default): first come, first served.</summary>
internal sealed class FcfsOrderingPolicy(string name) : Plugin(name), IOrderingPolicy
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("fcfs-ordering-policy", static (name, p, c) => new FcfsOrderingPolicy(name));

    public static readonly FcfsOrderingPolicy Default = new(Type.Name);

    public override string TypeName => Type.Name;

    public long OrderKey(long now, long ttlDeadline, long sloTtftMs, long ticksPerSecond) => now;
}
