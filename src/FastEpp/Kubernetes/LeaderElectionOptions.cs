namespace FastEpp.Kubernetes;

/// <summary>Lease timings; defaults are controller-runtime's (spec runtime.md §2.8).</summary>
internal sealed record LeaderElectionOptions
{
    /// <summary>How long a lease is valid after its last renewal, as seen by other candidates.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>The leader gives up if it has not renewed for this long.</summary>
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Interval between acquire/renew attempts.</summary>
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Release the lease on shutdown so a standby takes over at once (reference: true).</summary>
    public bool ReleaseOnCancel { get; init; } = true;
}
