namespace FastEpp.Kubernetes;

/// <summary>
/// Leadership as the health server and the reconcilers see it. Kept minimal so an active-active
/// mode (every replica serves) can replace the Lease elector later.
/// </summary>
internal interface ILeaderElector
{
    bool IsLeader { get; }

    /// <summary>Raised with the new value whenever <see cref="IsLeader"/> flips.</summary>
    event Action<bool>? LeadershipChanged;

    /// <summary>Acquires and keeps leadership until <paramref name="ct"/> is cancelled, then releases it.</summary>
    Task RunAsync(CancellationToken ct);
}

/// <summary>Leader election disabled: every replica is leader from the start (spec runtime.md §2.8).</summary>
internal sealed class AlwaysLeader : ILeaderElector
{
    public bool IsLeader => true;

    public event Action<bool>? LeadershipChanged { add { } remove { } }

    public Task RunAsync(CancellationToken ct) => Task.CompletedTask;
}
