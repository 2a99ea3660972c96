using FastEpp.Endpoints;
using Microsoft.Extensions.Logging;

namespace FastEpp.Metrics;

/// <summary>
/// The pool-level gauges of runtime.md §6.1 at one moment: <c>inference_pool_average_kv_cache_utilization</c>,
/// <c>inference_pool_average_queue_size</c>, <c>inference_pool_average_running_requests</c> and
/// <c>inference_pool_ready_pods</c>. Immutable; the observability layer exports the latest one.
/// </summary>
internal sealed record PoolMetricsSnapshot(
    double AverageKvCacheUtilization,
    double AverageQueueSize,
    double AverageRunningRequests,
    int ReadyEndpoints,
    DateTimeOffset ComputedAt)
{
    public static readonly PoolMetricsSnapshot Empty = new(0, 0, 0, 0, default);

    /// <summary>False until a pool (a synced endpoint snapshot) was seen: the gauges then export nothing.</summary>
    public bool HasPool => ComputedAt != default;
}

/// <summary>
/// Recomputes <see cref="PoolMetricsSnapshot"/> every <c>--refresh-prometheus-metrics-interval</c>
/// (default 5 s) over the endpoints whose metrics are younger than <c>--metrics-staleness-threshold</c>
/// (default 2 s; never-scraped endpoints count as stale). Reference rules: the ready count is the
/// number of fresh endpoints (pod × port); when it is 0 the three averages keep their previous
/// values; with no pool nothing is updated. Readers take <see cref="Current"/> (a volatile read).
/// </summary>
internal sealed class PoolMetricsAggregator
{
    private readonly EndpointRegistry _registry;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private PoolMetricsSnapshot _current = PoolMetricsSnapshot.Empty;

    public PoolMetricsAggregator(EndpointRegistry registry, ILogger<PoolMetricsAggregator> logger,
        TimeProvider? timeProvider = null, TimeSpan? interval = null, TimeSpan? stalenessThreshold = null)
    {
        _registry = registry;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
        Interval = interval ?? TimeSpan.FromSeconds(5);
        StalenessThreshold = stalenessThreshold ?? TimeSpan.FromSeconds(2);
        if (Interval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(interval), "refresh-prometheus-metrics-interval must be positive");
    }

    public TimeSpan Interval { get; }
    public TimeSpan StalenessThreshold { get; }
    public PoolMetricsSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Recomputes now and publishes the result.</summary>
    public PoolMetricsSnapshot Refresh()
    {
        var next = Compute(_registry.Current, Current, _time.GetUtcNow(), StalenessThreshold);
        Volatile.Write(ref _current, next);
        return next;
    }

    /// <summary>The reference's aggregation as a pure function (easy to test).</summary>
    public static PoolMetricsSnapshot Compute(EndpointSnapshot snapshot, PoolMetricsSnapshot previous,
        DateTimeOffset now, TimeSpan stalenessThreshold)
    {
        if (!snapshot.Synced)
            return previous; // no pool yet: nothing updated
        double kv = 0, queue = 0, running = 0;
        int ready = 0;
        foreach (var endpoint in snapshot.Endpoints)
        {
            var m = endpoint.State.Metrics;
            if (!m.IsFresh || now - m.UpdatedAt > stalenessThreshold)
                continue;
            ready++;
            kv += m.KvCacheUsagePercent;
            queue += m.WaitingQueueSize;
            running += m.RunningRequestsSize;
        }
        return ready == 0
            ? previous with { ReadyEndpoints = 0, ComputedAt = now }
            : new PoolMetricsSnapshot(kv / ready, queue / ready, running / ready, ready, now);
    }

    /// <summary>The periodic loop; refreshes once immediately, then every <see cref="Interval"/>.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval, _time);
        try
        {
            do
            {
                try
                {
                    Refresh();
                }
                catch (Exception ex)
                {
                    MetricsLog.PoolIterationFailed(_logger, ex);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
