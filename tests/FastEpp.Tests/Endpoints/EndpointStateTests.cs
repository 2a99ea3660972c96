using FastEpp.Endpoints;

namespace FastEpp.Tests.Endpoints;

/// <summary>The long-lived per-endpoint state: seqlock metrics with one writer, counters that outlive snapshots.</summary>
public sealed class EndpointStateTests
{
    [Fact]
    public void InFlight_SurvivesSnapshotRebuilds()
    {
        var registry = new EndpointRegistry();
        registry.Publish([new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000)]);
        var before = registry.Current;
        before.Endpoints[0].State.IncrementInFlight();
        before.Endpoints[0].State.IncrementInFlight();

        // A relabel rebuilds the snapshot and replaces the Endpoint object; the counter travels with the state.
        registry.Publish([new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000, new Dictionary<string, string> { ["v"] = "2" }),
            new Endpoint("ns/b-rank-0", "b", "10.0.0.2", 8000, 8000)]);
        var after = registry.Current;
        Assert.NotSame(before.Endpoints[0], after.Endpoints[0]);
        Assert.Equal(2, after.Endpoints[0].State.InFlight);

        // A request that started on the old snapshot releases through it; the new snapshot sees the release.
        before.Endpoints[0].State.DecrementInFlight();
        Assert.Equal(1, after.Endpoints[0].State.InFlight);
        Assert.Equal(0, after.Endpoints[1].State.InFlight);
    }

    [Fact]
    public void InFlight_ConcurrentIncrementsAndDecrements_Balance()
    {
        var state = new EndpointState();
        Parallel.For(0, 10_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
        {
            state.IncrementInFlight();
            state.DecrementInFlight();
        });
        Assert.Equal(0, state.InFlight);
    }

    [Fact]
    public async Task Metrics_OneWriterManyReaders_NeverTorn()
    {
        var state = new EndpointState();
        state.SetMetrics(Consistent(0));
        using var stop = new CancellationTokenSource();
        long torn = 0, reads = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var m = state.Metrics;
                if (m.RunningRequestsSize != m.WaitingQueueSize || m.CacheNumBlocks != m.WaitingQueueSize ||
                    m.KvCacheUsagePercent != m.WaitingQueueSize / 1e6 || m.UpdatedAt.Ticks != m.WaitingQueueSize)
                    Interlocked.Increment(ref torn);
                Interlocked.Increment(ref reads);
            }
        })).ToArray();
        for (int i = 1; i <= 200_000; i++)
            state.SetMetrics(Consistent(i)); // the single writer (the poller's role)
        await Wait.UntilAsync(() => Interlocked.Read(ref reads) > 1000, "the readers ran");
        stop.Cancel();
        await Task.WhenAll(readers);
        Assert.Equal(0, Interlocked.Read(ref torn));
        Assert.Equal(200_000, state.Metrics.WaitingQueueSize);
    }

    private static EndpointMetrics Consistent(int k) => new()
    {
        WaitingQueueSize = k,
        RunningRequestsSize = k,
        CacheNumBlocks = k,
        KvCacheUsagePercent = k / 1e6,
        UpdatedAt = new DateTimeOffset(k, TimeSpan.Zero),
    };

    [Fact]
    public void Id_IsUniquePerState_AndStable()
    {
        var a = new EndpointState();
        var b = new EndpointState();
        Assert.NotEqual(a.Id, b.Id);
        Assert.Equal(a.Id, a.Id);
        var endpoint = new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000, state: a);
        Assert.Equal(a.Id, endpoint.WithState(a).State.Id);
    }
}
