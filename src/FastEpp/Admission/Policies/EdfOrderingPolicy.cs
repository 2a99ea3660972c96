using FastEpp.Plugins;

namespace FastEpp.Admission.Policies;

/// <summary><c>edf-ordering-policy</c>: earliest TTL deadline first (no TTL: after every request that has one).</summary>
internal sealed class EdfOrderingPolicy(string name) : IOrderingPolicy
{
    public string TypeName => PluginTypes.EdfOrderingPolicy;

    public string Name { get; } = name;

    public long OrderKey(long now, long ttlDeadline, long sloTtftMs, long ticksPerSecond) => ttlDeadline;
}
