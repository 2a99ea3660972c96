using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary>
/// Orders the requests of one flow (the reference's OrderingPolicy): at enqueue it gives the ticket a key;
/// smaller keys leave first, ties by arrival.
/// </summary>
internal interface IOrderingPolicy : IPlugin
{
    /// <param name="now">Enqueue time in time-provider ticks.</param>
    /// <param name="ttlDeadline">When the request's TTL runs out (ticks; <see cref="long.MaxValue"/> = never).</param>
    /// <param name="sloTtftMs">The <c>x-slo-ttft-ms</c> header value; negative when absent.</param>
    /// <param name="ticksPerSecond">The time provider's timestamp frequency.</param>
    long OrderKey(long now, long ttlDeadline, long sloTtftMs, long ticksPerSecond);
}
