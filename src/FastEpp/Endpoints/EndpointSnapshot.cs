namespace FastEpp.Endpoints;

/// <summary>
/// The set of endpoints at one moment. Immutable: built by a writer, published by one reference
/// swap in <see cref="EndpointRegistry"/>, never mutated afterwards. A request reads the snapshot
/// once and uses that copy to the end (see Endpoints/README.md).
/// </summary>
public sealed class EndpointSnapshot
{
    public static readonly EndpointSnapshot Empty = new([], 0, synced: false);

    public EndpointSnapshot(Endpoint[] endpoints, long version, bool synced = true)
    {
        Endpoints = endpoints;
        Version = version;
        Synced = synced;
    }

    /// <summary>All endpoints; index = endpoint id for this snapshot's lifetime.</summary>
    public Endpoint[] Endpoints { get; }
    /// <summary>Monotonic publication number.</summary>
    public long Version { get; }
    /// <summary>True once the source has delivered its first complete view (the reference's "pool synced").</summary>
    public bool Synced { get; }
    public int Count => Endpoints.Length;
}
