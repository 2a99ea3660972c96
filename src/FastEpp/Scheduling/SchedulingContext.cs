using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Scheduling;

/// <summary>
/// What every plugin call sees of one scheduling decision: the snapshot the request read once, the
/// request, and the request's scratch (typed per-endpoint data shared between plugins, replacing the
/// reference's string-keyed CycleState and endpoint attributes).
/// </summary>
internal readonly struct SchedulingContext
{
    public SchedulingContext(EndpointSnapshot snapshot, SchedulingRequest request, RequestScratch scratch)
    {
        Snapshot = snapshot;
        Request = request;
        Scratch = scratch;
    }

    public EndpointSnapshot Snapshot { get; }

    public SchedulingRequest Request { get; }

    public RequestScratch Scratch { get; }

    public Endpoint EndpointAt(int index) => Snapshot.Endpoints[index];
}
