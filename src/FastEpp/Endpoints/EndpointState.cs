namespace FastEpp.Endpoints;

/// <summary>
/// The long-lived, thread-safe part of an endpoint: its latest metrics and FastEpp's own in-flight
/// counter. Snapshots of the endpoint set are rebuilt and swapped whole, but they reference the same
/// <see cref="EndpointState"/> so counters and metrics survive a rebuild (YARP's DestinationState).
/// Writers: the metrics poller (one writer per endpoint) and the ExtProc stream (counters).
/// Readers: scheduling, without locks.
/// </summary>
public sealed class EndpointState
{
    // Seqlock around a multi-word struct: the single writer makes _version odd while writing and
    // even when done; readers retry until they see the same even version before and after the copy.
    private static int s_nextId;

    private EndpointMetrics _metrics;
    private int _version;
    private int _inFlight;

    /// <summary>Process-unique, stable id (never reused): the key of per-endpoint side tables such as the prefix index.</summary>
    public int Id { get; } = Interlocked.Increment(ref s_nextId);

    public EndpointMetrics Metrics
    {
        get
        {
            var spinner = new SpinWait();
            while (true)
            {
                int before = Volatile.Read(ref _version);
                if ((before & 1) == 0)
                {
                    EndpointMetrics copy = _metrics;
                    Interlocked.MemoryBarrier();
                    if (Volatile.Read(ref _version) == before)
                        return copy;
                }
                spinner.SpinOnce();
            }
        }
    }

    /// <summary>Publishes a new metrics value. Only one thread may write a given endpoint at a time.</summary>
    public void SetMetrics(in EndpointMetrics metrics)
    {
        Interlocked.Increment(ref _version);
        _metrics = metrics;
        Interlocked.Increment(ref _version);
    }

    /// <summary>Requests FastEpp has sent to this endpoint whose responses have not completed.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    public void IncrementInFlight() => Interlocked.Increment(ref _inFlight);

    public void DecrementInFlight() => Interlocked.Decrement(ref _inFlight);
}
