namespace FastEpp.Sim.KvEvents;

/// <summary>
/// The engine side of KV events: the block pool adds events as it stores and evicts blocks during a step, and the
/// engine flushes them as one batch when the step ends (vLLM publishes one batch per step, only when non-empty).
/// Single-threaded (engine, under the replica lock).
/// </summary>
internal sealed class KvEventRecorder
{
    private readonly IKvEventSink _sink;
    private readonly double _unixStartSeconds;
    private List<KvCacheEvent> _pending = new();

    /// <summary>Creates a recorder that stamps batches with <paramref name="unixStartSeconds"/> + simulated time.</summary>
    public KvEventRecorder(IKvEventSink sink, double unixStartSeconds)
    {
        _sink = sink;
        _unixStartSeconds = unixStartSeconds;
    }

    /// <summary>Events recorded since the last flush.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Records an event of the step in progress.</summary>
    public void Add(KvCacheEvent e) => _pending.Add(e);

    /// <summary>Hands the recorded events to the publisher as one batch stamped at <paramref name="simTime"/>.</summary>
    public void Flush(double simTime)
    {
        if (_pending.Count == 0)
        {
            return;
        }
        _sink.Publish(new KvEventBatch { Timestamp = _unixStartSeconds + simTime, Events = _pending });
        _pending = new List<KvCacheEvent>();
    }
}
