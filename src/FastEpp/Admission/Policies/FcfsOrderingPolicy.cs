using FastEpp.Plugins;

namespace FastEpp.Admission.Policies;

/// <summary><c>fcfs-ordering-policy</c> (the default): first come, first served.</summary>
internal sealed class FcfsOrderingPolicy(string name) : IOrderingPolicy
{
    public static readonly FcfsOrderingPolicy Default = new(PluginTypes.FcfsOrderingPolicy);

    public string TypeName => PluginTypes.FcfsOrderingPolicy;

    public string Name { get; } = name;

    public long OrderKey(long now, long ttlDeadline, long sloTtftMs, long ticksPerSecond) => now;
}
