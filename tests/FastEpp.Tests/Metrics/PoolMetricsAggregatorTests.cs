using FastEpp.Endpoints;
using FastEpp.Metrics;
using Microsoft.Extensions.Time.Testing;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Tests.Metrics;

public class PoolMetricsAggregatorTests
{
    private static readonly DateTimeOffset s_now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_threshold = TimeSpan.FromSeconds(2);

    private static Endpoint WithMetrics(string name, EndpointMetrics metrics)
    {
        var e = new Endpoint($"default/{name}-rank-0", name, "10.0.0.1", 8000, 8000);
        e.State.SetMetrics(metrics);
        return e;
    }

    private static EndpointMetrics Fresh(double kv, int queue, int running, double ageSeconds = 0.5) =>
        new() { KvCacheUsagePercent = kv, WaitingQueueSize = queue, RunningRequestsSize = running, UpdatedAt = s_now.AddSeconds(-ageSeconds) };

    [Fact]
    public void Compute_FreshEndpointsOnly_AveragesAndReadyCount()
    {
        var snapshot = new EndpointSnapshot(
        [
            WithMetrics("a", Fresh(0.2, 2, 4)),
            WithMetrics("b", Fresh(0.6, 4, 8, ageSeconds: 1.9)),
            WithMetrics("stale", Fresh(1.0, 100, 100, ageSeconds: 2.5)),
            WithMetrics("never", default),
        ], version: 1);

        var result = PoolMetricsAggregator.Compute(snapshot, PoolMetricsSnapshot.Empty, s_now, s_threshold);

        Assert.Equal(2, result.ReadyEndpoints);
        Assert.Equal(0.4, result.AverageKvCacheUtilization, 1e-12);
        Assert.Equal(3, result.AverageQueueSize);
        Assert.Equal(6, result.AverageRunningRequests);
        Assert.Equal(s_now, result.ComputedAt);
        Assert.True(result.HasPool);
    }

    [Fact]
    public void Compute_NoFreshEndpoint_AveragesKeepPreviousValues()
    {
        var previous = new PoolMetricsSnapshot(0.5, 3, 7, 4, s_now.AddSeconds(-5));
        var snapshot = new EndpointSnapshot([WithMetrics("stale", Fresh(0.9, 9, 9, ageSeconds: 10))], version: 2);

        var result = PoolMetricsAggregator.Compute(snapshot, previous, s_now, s_threshold);

        Assert.Equal(0, result.ReadyEndpoints);
        Assert.Equal((0.5, 3.0, 7.0), (result.AverageKvCacheUtilization, result.AverageQueueSize, result.AverageRunningRequests));
        Assert.Equal(s_now, result.ComputedAt);
    }

    [Fact]
    public void Compute_NoPoolYet_NothingUpdated()
    {
        var result = PoolMetricsAggregator.Compute(EndpointSnapshot.Empty, PoolMetricsSnapshot.Empty, s_now, s_threshold);
        Assert.Same(PoolMetricsSnapshot.Empty, result);
        Assert.False(result.HasPool);
    }

    [Fact]
    public async Task RunAsync_RecomputesEveryInterval()
    {
        var time = new FakeTimeProvider(s_now);
        var registry = new EndpointRegistry();
        var endpoint = new Endpoint("default/a-rank-0", "a", "10.0.0.1", 8000, 8000);
        registry.Publish([endpoint]);
        endpoint.State.SetMetrics(Fresh(0.5, 1, 1, ageSeconds: 0));
        var aggregator = new PoolMetricsAggregator(registry, new TestLogger<PoolMetricsAggregator>(), time);
        using var cts = new CancellationTokenSource();
        var loop = aggregator.RunAsync(cts.Token);

        Assert.Equal(1, aggregator.Current.ReadyEndpoints); // computed immediately at start
        Assert.Equal(0.5, aggregator.Current.AverageKvCacheUtilization);

        endpoint.State.SetMetrics(Fresh(0.9, 3, 1, ageSeconds: 0) with { UpdatedAt = s_now.AddSeconds(5) });
        time.Advance(TimeSpan.FromSeconds(5));
        await Wait.UntilAsync(() => aggregator.Current.AverageKvCacheUtilization == 0.9, "the aggregate follows the new metrics");
        Assert.Equal(0.9, aggregator.Current.AverageKvCacheUtilization);
        Assert.Equal(3, aggregator.Current.AverageQueueSize);

        // 3 s later without a scrape the endpoint is stale (> 2 s): ready drops, averages stay.
        time.Advance(TimeSpan.FromSeconds(5));
        await Wait.UntilAsync(() => aggregator.Current.ReadyEndpoints == 0, "the stale endpoint leaves the ready count");
        Assert.Equal(0, aggregator.Current.ReadyEndpoints);
        Assert.Equal(0.9, aggregator.Current.AverageKvCacheUtilization);

        cts.Cancel();
        await loop;
    }
}
