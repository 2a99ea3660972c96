namespace FastEpp.Kubernetes;

/// <summary>
/// An endpoint source bound to one pool: publishes the pool's endpoints to the
/// <see cref="FastEpp.Endpoints.EndpointRegistry"/> and reports what the health server needs.
/// </summary>
internal interface IPoolSource : IAsyncDisposable
{
    /// <summary>The reference's "pool synced": the pool is known (and its pods listed once).</summary>
    bool IsSynced { get; }

    /// <summary>Effective appProtocol of the pool (<c>http</c> or <c>kubernetes.io/h2c</c>); null while no pool.</summary>
    string? AppProtocol { get; }

    /// <summary>The current pool, null while unknown or deleted.</summary>
    EndpointPool? Pool { get; }

    /// <summary>Raised when <see cref="IsSynced"/>, <see cref="AppProtocol"/> or the pool changes.</summary>
    event Action? StateChanged;

    /// <summary>Runs the watches until <paramref name="ct"/> is cancelled.</summary>
    Task RunAsync(CancellationToken ct);
}
