using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Scheduling;

/// <summary>
/// The seam between the protocol layer (ExtProc) and scheduling. Implementations must not allocate
/// per call once warm and must be safe for concurrent use.
/// </summary>
internal interface IRequestScheduler
{
    /// <summary>The most endpoints (primary + fallbacks) one decision can write; sizes the result span.</summary>
    int MaxResults => 1;

    /// <summary>
    /// The asynchronous step before <see cref="Schedule"/> (<see cref="IAsyncPreparer"/> plugins, e.g. tokenization at
    /// a model server): null when there is nothing to await — the common case, which costs nothing.
    /// </summary>
    Task? BeginPrepare(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates) => null;

    /// <summary>
    /// Picks endpoints for <paramref name="request"/> among <paramref name="candidates"/> (indices into
    /// <paramref name="snapshot"/>.Endpoints). Writes the primary endpoint first, then fallbacks, into
    /// <paramref name="result"/> and returns how many; returns a negative number when the scheduler
    /// fails, with <paramref name="error"/> set to the reference's text (e.g.
    /// <c>failed to run scheduler profile 'default'</c>, answered as 429).
    /// </summary>
    int Schedule(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates,
        Span<int> result, out string? error);

    /// <summary>Runs after a successful decision, before the request is forwarded (PreRequest plugins).</summary>
    void PreRequest(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen);

    /// <summary>Called once the response is complete or the stream ended (ResponseComplete plugins).</summary>
    void ResponseComplete(SchedulingRequest request, Endpoint? target) { }
}
