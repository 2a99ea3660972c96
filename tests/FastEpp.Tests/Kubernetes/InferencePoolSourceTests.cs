using FastEpp.Kubernetes;
using static FastEpp.Tests.Kubernetes.KubeTestObjects;

namespace FastEpp.Tests.Kubernetes;

public sealed class InferencePoolSourceTests
{
    private static readonly Dictionary<string, string> s_vllm = new() { ["app"] = "vllm" };

    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _run;

        public Running(KubeTestHarness h, int metricsPortOverride = 0)
        {
            H = h;
            Source = new InferencePoolSource(h.Client, "ns1", "pool", h.Registry, metricsPortOverride, KubeTestHarness.Logger, KubeTestHarness.FastInformer);
            _run = Source.RunAsync(_cts.Token);
        }

        public KubeTestHarness H { get; }
        public InferencePoolSource Source { get; }
        public FakeKubeApiServer Server => H.Server;

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            await _run;
            await Source.DisposeAsync();
            await H.DisposeAsync();
        }
    }

    private static async Task<Running> StartAsync(int[] ports, int metricsPortOverride = 0, params System.Text.Json.Nodes.JsonObject[] pods)
    {
        var h = await KubeTestHarness.StartAsync();
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, ports));
        foreach (var pod in pods)
            h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), pod);
        return new Running(h, metricsPortOverride);
    }

    private static string Names(Running r) => string.Join(' ', r.H.EndpointNames());

    [Fact]
    public async Task Run_PoolWithPods_PublishesRankedEndpointsOfReadyMatchingPods()
    {
        await using var r = await StartAsync([8000, 8001], 0,
            Pod("a", "10.0.0.1"),
            Pod("b", "10.0.0.2", ready: false),
            Pod("c", "10.0.0.3", labels: new() { ["app"] = "other" }),
            Pod("d", "10.0.0.4", deleting: true));

        await Wait.UntilAsync(() => r.Source.IsSynced, "pool synced");
        Assert.Equal("ns1/a-rank-0 ns1/a-rank-1", Names(r));
        Assert.Equal(["10.0.0.1:8000", "10.0.0.1:8001"], r.H.HostPorts());
        var e = r.H.Registry.Current.Endpoints[1];
        Assert.Equal("a", e.PodName);
        Assert.Equal(8001, e.MetricsPort);
        Assert.Equal("vllm", e.Labels["app"]);
        Assert.Equal("http", r.Source.AppProtocol);
        Assert.True(r.H.Registry.Current.Synced);
        // The real client authenticated with the kubeconfig's bearer token on every request.
        Assert.Equal("Bearer " + FakeKubeApiServer.Token, r.Server.LastAuthorization);
        Assert.Equal(0, r.Server.UnauthorizedRequests);
    }

    [Fact]
    public async Task Run_PodChurn_TracksAddsDeletesAndLabelChanges()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0", "pod a");

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("b", "10.0.0.2"));
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("c", "10.0.0.3"));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0 ns1/b-rank-0 ns1/c-rank-0", "pods b and c added");

        r.Server.Delete(FakeKubeApiServer.Pods("ns1"), "a");
        await Wait.UntilAsync(() => Names(r) == "ns1/b-rank-0 ns1/c-rank-0", "pod a deleted");

        // Labels no longer match: the server-side selector turns this into a DELETED event.
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("b", "10.0.0.2", labels: new() { ["app"] = "gone" }));
        await Wait.UntilAsync(() => Names(r) == "ns1/c-rank-0", "pod b relabelled away");

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("b", "10.0.0.2"));
        await Wait.UntilAsync(() => Names(r) == "ns1/b-rank-0 ns1/c-rank-0", "pod b relabelled back");

        // Pod replaced under the same name with a new IP: same name, new address.
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("c", "10.0.0.9"));
        await Wait.UntilAsync(() => r.H.HostPorts().Contains("10.0.0.9:8000"), "pod c new IP");
        Assert.Equal(2, r.H.Registry.Current.Count);
    }

    [Fact]
    public async Task Run_ReadinessFlips_RemovesAndRestoresEndpointsAndKeepsStateWhileReady()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"), Pod("b", "10.0.0.2"));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 2, "two endpoints");
        var stateB = r.H.Registry.Current.Endpoints[1].State;

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1", ready: false));
        await Wait.UntilAsync(() => Names(r) == "ns1/b-rank-0", "a not ready");
        Assert.Same(stateB, r.H.Registry.Current.Endpoints[0].State);

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1", ready: true));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0 ns1/b-rank-0", "a ready again");

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("b", "10.0.0.2", deleting: true));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0", "b terminating");
    }

    [Fact]
    public async Task Run_StatusOnlyPodUpdate_DoesNotRepublish()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 1, "one endpoint");
        long version = r.H.Registry.Current.Version;

        var pod = Pod("a", "10.0.0.1");
        pod["status"]!["phase"] = "Running-again";
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), pod);
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("z", "10.0.0.26"));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 2, "z added");
        Assert.Equal(version + 1, r.H.Registry.Current.Version);
    }

    [Fact]
    public async Task Run_TargetPortsChange_RebuildsRanks()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0", "one port");

        r.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000, 9000]));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0 ns1/a-rank-1", "two ports");
        Assert.Equal(["10.0.0.1:8000", "10.0.0.1:9000"], r.H.HostPorts());

        r.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [9000, 8000], appProtocol: "kubernetes.io/h2c"));
        await Wait.UntilAsync(() => r.H.HostPorts().SequenceEqual(["10.0.0.1:9000", "10.0.0.1:8000"]), "ports reordered");
        await Wait.UntilAsync(() => r.Source.AppProtocol == "kubernetes.io/h2c", "app protocol");
    }

    [Fact]
    public async Task Run_PoolSelectorChange_ResyncsToTheNewPods()
    {
        await using var r = await StartAsync([8000], 0,
            Pod("a", "10.0.0.1"),
            Pod("x", "10.0.1.1", labels: new() { ["app"] = "next" }),
            Pod("y", "10.0.1.2", labels: new() { ["app"] = "next" }));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0", "old selector");
        int lists = r.Server.ListRequests;

        r.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", new() { ["app"] = "next" }, [8000]));
        await Wait.UntilAsync(() => Names(r) == "ns1/x-rank-0 ns1/y-rank-0", "new selector");
        Assert.True(r.Server.ListRequests > lists, "a selector change re-lists pods");
        Assert.True(r.Source.IsSynced);

        // The new watch follows the new selector.
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1", labels: new() { ["app"] = "next" }));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0 ns1/x-rank-0 ns1/y-rank-0", "a joins the new selector");
    }

    [Fact]
    public async Task Run_ActivePortsAnnotation_RestrictsPorts()
    {
        var annotated = new Dictionary<string, string> { [PodEndpoints.ActivePortsAnnotation] = " 8002,8001 , 9999,abc,-1" };
        await using var r = await StartAsync([8000, 8001, 8002], 0,
            Pod("a", "10.0.0.1", annotations: annotated),
            Pod("b", "10.0.0.2"));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-1 ns1/a-rank-2 ns1/b-rank-0 ns1/b-rank-1 ns1/b-rank-2", "active ports");
        Assert.Equal(["10.0.0.1:8001", "10.0.0.1:8002"], r.H.HostPorts().Take(2));

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("b", "10.0.0.2", annotations: new() { [PodEndpoints.ActivePortsAnnotation] = "" }));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-1 ns1/a-rank-2", "empty annotation = no active port");

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0 ns1/a-rank-1 ns1/a-rank-2", "annotation removed = all ports");
    }

    [Fact]
    public async Task Run_ReadyPodWithoutIp_IsSkippedUntilItHasOne()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", null), Pod("b", "10.0.0.2"));
        await Wait.UntilAsync(() => r.Source.IsSynced && r.H.Registry.Current.Count == 1, "b only");
        Assert.Equal("ns1/b-rank-0", Names(r));

        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => Names(r) == "ns1/a-rank-0 ns1/b-rank-0", "a got an IP");
    }

    [Fact]
    public async Task Run_MetricsPortOverride_AppliesOnlyToSinglePortPools()
    {
        await using var r = await StartAsync([8000], metricsPortOverride: 9090, Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 1, "one endpoint");
        Assert.Equal(9090, r.H.Registry.Current.Endpoints[0].MetricsPort);
        Assert.Equal("10.0.0.1:9090", r.H.Registry.Current.Endpoints[0].MetricsHost);

        r.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000, 8001]));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 2, "two ports");
        Assert.Equal([8000, 8001], r.H.Registry.Current.Endpoints.Select(e => e.MetricsPort));
    }

    [Fact]
    public async Task Run_DroppedWatch_KeepsEndpointsAndResumesFromLastResourceVersion()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"), Pod("b", "10.0.0.2"));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 2 && r.Server.ActiveWatchCount == 2, "watching");
        var before = r.H.Registry.Current;
        int lists = r.Server.ListRequests;
        int watches = r.Server.WatchRequests;

        r.Server.DropWatches(midLine: true);
        await Wait.UntilAsync(() => r.Server.WatchRequests >= watches + 2 && r.Server.ActiveWatchCount == 2, "watches re-established");
        Assert.Same(before, r.H.Registry.Current); // nothing was emptied or republished
        Assert.Equal(lists, r.Server.ListRequests); // resumed, not re-listed

        // Changes while reconnected are still seen.
        r.Server.Delete(FakeKubeApiServer.Pods("ns1"), "a");
        await Wait.UntilAsync(() => Names(r) == "ns1/b-rank-0", "delete after reconnect");
    }

    [Fact]
    public async Task Run_ChangesWhileDisconnected_AreReplayedFromHistory()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 1 && r.Server.ActiveWatchCount == 2, "watching");
        r.Server.Bookmark(FakeKubeApiServer.Pods("ns1"));
        long bookmarkRv = r.Server.ResourceVersion;
        // The bookmark advanced the client's resourceVersion: the next watch starts there.
        await Wait.UntilAsync(() =>
        {
            r.Server.DropWatches();
            return r.Server.LastWatchFrom == bookmarkRv.ToString();
        }, "resume from the bookmark");
    }

    [Fact]
    public async Task Run_GoneOnReconnect_RelistsAndAppliesTheDiff()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"), Pod("b", "10.0.0.2"));
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 2 && r.Server.ActiveWatchCount == 2, "watching");
        int lists = r.Server.ListRequests;

        r.Server.Compact();
        r.Server.Delete(FakeKubeApiServer.Pods("ns1"), "a");
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("c", "10.0.0.3"));
        r.Server.Compact(); // the client can only learn these changes by re-listing
        r.Server.DropWatches();

        await Wait.UntilAsync(() => Names(r) == "ns1/b-rank-0 ns1/c-rank-0", "re-listed state");
        Assert.True(r.Server.ListRequests > lists);
        Assert.True(r.Source.IsSynced);
    }

    [Fact]
    public async Task Run_GoneAsWatchErrorEvent_RelistsAndAppliesTheDiff()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"));
        r.Server.GoneAsHttpStatus = false;
        await Wait.UntilAsync(() => r.H.Registry.Current.Count == 1 && r.Server.ActiveWatchCount == 2, "watching");
        var stateA = r.H.Registry.Current.Endpoints[0].State;
        int lists = r.Server.ListRequests;

        r.Server.Compact();
        r.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("b", "10.0.0.2"));
        r.Server.ExpireWatches();

        await Wait.UntilAsync(() => r.Server.ListRequests > lists && Names(r) == "ns1/a-rank-0 ns1/b-rank-0", "re-listed after ERROR 410");
        Assert.Same(stateA, r.H.Registry.Current.Endpoints[0].State); // a survived the re-list with its state
    }

    [Fact]
    public async Task Run_PoolDeletedAndRecreated_ClearsThenRestores()
    {
        await using var r = await StartAsync([8000], 0, Pod("a", "10.0.0.1"));
        await Wait.UntilAsync(() => r.Source.IsSynced && r.H.Registry.Current.Count == 1, "synced");
        int stateChanges = 0;
        r.Source.StateChanged += () => Interlocked.Increment(ref stateChanges);

        r.Server.Delete(FakeKubeApiServer.Pools("ns1"), "pool");
        await Wait.UntilAsync(() => !r.Source.IsSynced && r.H.Registry.Current.Count == 0, "cleared");
        Assert.False(r.H.Registry.Current.Synced);
        Assert.Null(r.Source.AppProtocol);

        r.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000]));
        await Wait.UntilAsync(() => r.Source.IsSynced && r.H.Registry.Current.Count == 1, "restored");
        Assert.True(r.H.Registry.Current.Synced);
        Assert.True(stateChanges >= 2);
    }

    [Fact]
    public async Task Run_NoPoolYet_IsNotSyncedAndPublishesNothing()
    {
        var h = await KubeTestHarness.StartAsync();
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1"));
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("other-pool", s_vllm, [8000]));
        await using var r = new Running(h);
        await Wait.UntilAsync(() => h.Server.ActiveWatchCount == 1, "pool watch open");
        Assert.False(r.Source.IsSynced);
        Assert.Equal(0, h.Registry.Current.Version);

        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000]));
        await Wait.UntilAsync(() => r.Source.IsSynced && h.Registry.Current.Count == 1, "pool appears");
    }

    [Fact]
    public async Task Run_PaginatedList_ReadsAllPages()
    {
        var h = await KubeTestHarness.StartAsync();
        h.Server.MaxPageSize = 2;
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000]));
        for (int i = 0; i < 7; i++)
            h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod($"p{i}", $"10.0.0.{i + 1}"));
        await using var r = new Running(h);
        await Wait.UntilAsync(() => h.Registry.Current.Count == 7, "all pages");
    }
}
