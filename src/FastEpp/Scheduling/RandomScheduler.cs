using FastEpp.Endpoints;

namespace FastEpp.Scheduling;

/// <summary>
/// The reference's <c>random-picker</c> with one endpoint: a uniformly random candidate. Used
/// until an EndpointPickerConfig-driven scheduler is configured. Thread-safe without locks
/// (<see cref="Random.Shared"/> is per-thread).
/// </summary>
internal sealed class RandomScheduler : IRequestScheduler
{
    public int Schedule(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates,
        Span<int> result, out string? error)
    {
        error = null;
        if (candidates.IsEmpty || result.IsEmpty)
        {
            error = "failed to run scheduler profile 'default'";
            return -1;
        }
        result[0] = candidates[Random.Shared.Next(candidates.Length)];
        return 1;
    }

    public void PreRequest(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
    }
}
