using FastEpp.Endpoints;

namespace FastEpp.Tests.Endpoints;

/// <summary>The snapshot swap of Endpoints/README.md: whole snapshots, monotonic versions, state carried by name.</summary>
public sealed class EndpointRegistryTests
{
    private static Endpoint Pod(string name, string address = "10.0.0.1", int port = 8000, int metricsPort = 8000,
        Dictionary<string, string>? labels = null) =>
        new($"ns/{name}-rank-0", name, address, port, metricsPort, labels);

    [Fact]
    public void Current_BeforeAnyPublish_IsTheEmptyUnsyncedSnapshot()
    {
        var registry = new EndpointRegistry();
        Assert.Same(EndpointSnapshot.Empty, registry.Current);
        Assert.Equal(0, registry.Current.Version);
        Assert.False(registry.Current.Synced);
    }

    [Fact]
    public void Publish_SwapsAWholeNewSnapshot_AndLeavesTheOldOneUntouched()
    {
        var registry = new EndpointRegistry();
        var first = registry.Publish([Pod("a", "10.0.0.1"), Pod("b", "10.0.0.2")]);
        Endpoint[] firstArray = first.Endpoints;

        var second = registry.Publish([Pod("b", "10.0.0.2"), Pod("c", "10.0.0.3")]);

        Assert.Same(second, registry.Current);
        Assert.NotSame(first, second);
        Assert.Equal(first.Version + 1, second.Version);
        // A reader still holding the first snapshot sees exactly what it loaded.
        Assert.Same(firstArray, first.Endpoints);
        Assert.Equal(["ns/a-rank-0", "ns/b-rank-0"], first.Endpoints.Select(e => e.Name));
        Assert.Equal(["ns/b-rank-0", "ns/c-rank-0"], second.Endpoints.Select(e => e.Name));
    }

    [Fact]
    public void Publish_RaisesChangedAfterTheSwap_WithThePublishedSnapshot()
    {
        var registry = new EndpointRegistry();
        EndpointSnapshot? seen = null;
        EndpointSnapshot? currentInHandler = null;
        registry.Changed += s =>
        {
            seen = s;
            currentInHandler = registry.Current;
        };
        var published = registry.Publish([Pod("a")], synced: false);
        Assert.Same(published, seen);
        Assert.Same(published, currentInHandler);
        Assert.False(published.Synced);
    }

    [Fact]
    public void Publish_SameNameAddressAndPort_KeepsTheSameEndpointObject()
    {
        var registry = new EndpointRegistry();
        var a = Pod("a", labels: new() { ["app"] = "vllm" });
        registry.Publish([a]);
        registry.Publish([Pod("a", labels: new() { ["app"] = "vllm" }), Pod("b", "10.0.0.2")]);
        Assert.Same(a, registry.Current.Endpoints[0]);
    }

    [Fact]
    public void Publish_OtherLabelsOrMetricsPort_ReplacesTheEndpointButKeepsItsState()
    {
        var registry = new EndpointRegistry();
        var a = Pod("a", labels: new() { ["app"] = "vllm" });
        registry.Publish([a]);

        registry.Publish([Pod("a", labels: new() { ["app"] = "vllm", ["tier"] = "gold" })]);
        var relabelled = registry.Current.Endpoints[0];
        Assert.NotSame(a, relabelled);
        Assert.Same(a.State, relabelled.State);
        Assert.Equal("gold", relabelled.Labels["tier"]);

        registry.Publish([Pod("a", metricsPort: 9090, labels: new() { ["app"] = "vllm", ["tier"] = "gold" })]);
        Assert.Same(a.State, registry.Current.Endpoints[0].State);
        Assert.Equal(9090, registry.Current.Endpoints[0].MetricsPort);
    }

    [Fact]
    public void Publish_SameNameAtAnotherAddressOrPort_IsANewEndpointWithFreshState()
    {
        var registry = new EndpointRegistry();
        var a = Pod("a", "10.0.0.1");
        registry.Publish([a]);
        registry.Publish([Pod("a", "10.0.0.9")]);
        Assert.NotSame(a.State, registry.Current.Endpoints[0].State);

        var moved = registry.Current.Endpoints[0];
        registry.Publish([Pod("a", "10.0.0.9", port: 8001)]);
        Assert.NotSame(moved.State, registry.Current.Endpoints[0].State);
    }

    [Fact]
    public void Publish_DuplicateNames_FirstOneWins()
    {
        var registry = new EndpointRegistry();
        var snapshot = registry.Publish([Pod("a", "10.0.0.1"), Pod("a", "10.0.0.2"), Pod("b", "10.0.0.3")]);
        Assert.Equal(2, snapshot.Count);
        Assert.Equal(["10.0.0.1:8000", "10.0.0.3:8000"], snapshot.Endpoints.Select(e => e.HostPort));
    }

    [Fact]
    public async Task Publish_ConcurrentWriters_VersionsStayMonotonic_ReadersSeeWholeSnapshots()
    {
        var registry = new EndpointRegistry();
        var sets = Enumerable.Range(0, 8).Select(i => Enumerable.Range(0, i + 1).Select(j => Pod("p" + j, "10.0.1." + (j + 1))).ToArray()).ToArray();
        using var stop = new CancellationTokenSource();
        long readerFailures = 0;
        var reader = Task.Run(() =>
        {
            long last = 0;
            while (!stop.IsCancellationRequested)
            {
                var s = registry.Current; // loaded once, used to the end, as a request does
                if (s.Version < last || s.Count != s.Endpoints.Length || s.Endpoints.Any(e => e is null))
                    Interlocked.Increment(ref readerFailures);
                last = s.Version;
            }
        });
        Parallel.For(0, 400, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i => registry.Publish(sets[i % sets.Length]));
        stop.Cancel();
        await reader;
        Assert.Equal(400, registry.Current.Version);
        Assert.Equal(0, Interlocked.Read(ref readerFailures));
    }
}
