using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary>
/// <c>slo-deadline-ordering-policy</c>: earliest time-to-first-token deadline first, the deadline being enqueue
/// time + the <c>x-slo-ttft-ms</c> header; requests without the header go last.
/// </summary>
internal sealed class SloDeadlineOrderingPolicy(string name) : Plugin(name), IOrderingPolicy
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("slo-deadline-ordering-policy", static (name, p, c) => new SloDeadlineOrderingPolicy(name));

    public override string TypeName => Type.Name;

    public long OrderKey(long now, long ttlDeadline, long sloTtftMs, long ticksPerSecond) =>
        sloTtftMs >= 0 ? now + sloTtftMs * ticksPerSecond / 1000 : long.MaxValue;
}
