using FastEpp.Kubernetes;
using FastEpp.Requests;
using Microsoft.Extensions.Logging.Abstractions;
using static FastEpp.Tests.Kubernetes.KubeTestObjects;

namespace FastEpp.Tests.Kubernetes;

public sealed class KubernetesDiscoveryTests
{
    private static readonly Dictionary<string, string> s_vllm = new() { ["app"] = "vllm" };

    private static KubernetesDiscovery Create(KubeTestHarness h, KubernetesOptions options, Dictionary<string, string?>? env = null) =>
        KubernetesDiscovery.Create(options, h.Registry, NullLoggerFactory.Instance, h.Config,
            name => env is not null && env.TryGetValue(name, out var v) ? v : null,
            new LeaderElectionOptions(), KubeTestHarness.FastInformer);

    [Fact]
    public async Task Standalone_SelectorAndPorts_SyncedImmediatelyAndPublishesMatchingPods()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1", labels: new() { ["app"] = "vllm", ["tier"] = "gpu" }));
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("b", "10.0.0.2", labels: new() { ["app"] = "vllm" }));
        var options = new KubernetesOptions { EndpointSelector = "app=vllm,tier=gpu", EndpointTargetPorts = [8000, 8001, 8000] };

        await using var d = Create(h, options, new() { ["POD_NAME"] = "my-epp-7d9f8b6c5-x2x4z", ["NAMESPACE"] = "ns1" });
        Assert.IsType<SelectorSource>(d.Source);
        Assert.Equal("my-epp", d.PoolName);
        Assert.Equal("ns1", d.PoolNamespace);
        Assert.True(d.Source.IsSynced); // before any pod is seen (spec §2.9)
        Assert.Equal("http", d.Source.AppProtocol);

        await d.StartAsync(CancellationToken.None);
        await Wait.UntilAsync(() => h.Registry.Current.Count == 2, "standalone endpoints");
        Assert.Equal(["ns1/a-rank-0", "ns1/a-rank-1"], h.EndpointNames());
        Assert.Equal(["10.0.0.1:8000", "10.0.0.1:8001"], h.HostPorts());
        Assert.Null(d.PriorityFor("anything"));
        Assert.True(d.ModelRewrites.IsEmpty);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("epp")]
    [InlineData("epp-abc")]
    [InlineData("EPP-ABC-DEF")]
    public async Task Standalone_BadPodName_IsAStartupError(string? podName)
    {
        await using var h = await KubeTestHarness.StartAsync();
        var options = new KubernetesOptions { EndpointSelector = "app=vllm", EndpointTargetPorts = [8000] };
        var ex = Assert.Throws<ArgumentException>(() => Create(h, options, new() { ["POD_NAME"] = podName }));
        Assert.Contains("POD_NAME", ex.Message);
    }

    [Fact]
    public async Task Create_InvalidOptions_Throws()
    {
        await using var h = await KubeTestHarness.StartAsync();
        Assert.Throws<ArgumentException>(() => Create(h, new KubernetesOptions()));
        Assert.Throws<ArgumentException>(() => Create(h, new KubernetesOptions { PoolName = "p", EndpointSelector = "a=b", EndpointTargetPorts = [1] }));
    }

    [Fact]
    public async Task PoolMode_WithCrds_WatchesObjectivesAndRewritesOfThisPoolOnly()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000]));
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1"));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("critical", 10, "pool"));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("sheddable", -5, "pool"));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("unset", null, "pool"));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("defaulted-group", 3, "pool", poolGroup: null));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("other-pool", 7, "another"));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("other-group", 7, "pool", poolGroup: "example.com"));
        h.Server.Upsert(FakeKubeApiServer.Rewrites("ns1"), Rewrite("newer", "pool", "2026-02-01T00:00:00Z",
            (["llama"], [("llama-v2", 1)]), ([], [("fallback-b", 1)])));
        h.Server.Upsert(FakeKubeApiServer.Rewrites("ns1"), Rewrite("older", "pool", "2026-01-01T00:00:00Z",
            (["llama", "mistral"], [("llama-v1", 80), ("llama-v1-canary", 20)]), ([], [("fallback-a", 1)])));
        h.Server.Upsert(FakeKubeApiServer.Rewrites("ns1"), Rewrite("foreign", "another", "2025-01-01T00:00:00Z",
            (["llama"], [("foreign", 1)])));

        await using var d = Create(h, new KubernetesOptions { PoolName = "pool", PoolNamespace = "ns1" });
        await d.StartAsync(CancellationToken.None);
        await Wait.UntilAsync(() => d.Source.IsSynced && h.Registry.Current.Count == 1, "pool synced");
        await Wait.UntilAsync(() => d.PriorityFor("critical") == 10 && d.ModelRewrites.ByModel.Count == 2, "objectives and rewrites");

        Assert.Equal(-5, d.PriorityFor("sheddable"));
        Assert.Equal(0, d.PriorityFor("unset"));
        Assert.Equal(3, d.PriorityFor("defaulted-group"));
        Assert.Null(d.PriorityFor("other-pool"));
        Assert.Null(d.PriorityFor("other-group"));
        Assert.Null(d.PriorityFor("missing"));

        var rewrites = d.ModelRewrites;
        var llama = rewrites.FindRule("llama")!;
        Assert.Equal("older", llama.ObjectName); // oldest exact match wins
        Assert.Equal([new ModelRewriteTarget("llama-v1", 80), new ModelRewriteTarget("llama-v1-canary", 20)], llama.Targets);
        Assert.Equal("older", rewrites.FindRule("mistral")!.ObjectName);
        var generic = rewrites.FindRule("phi")!;
        Assert.Equal("fallback-a", generic.Targets[0].Model); // oldest generic rule
        Assert.Equal(2, rewrites.Generic.Length);

        // Live updates: priority change, deletion, poolRef moved away.
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("critical", 100, "pool"));
        h.Server.Delete(FakeKubeApiServer.Objectives("ns1"), "sheddable");
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("unset", 1, "another"));
        await Wait.UntilAsync(() => d.PriorityFor("critical") == 100 && d.PriorityFor("sheddable") is null && d.PriorityFor("unset") is null, "objective updates");

        h.Server.Delete(FakeKubeApiServer.Rewrites("ns1"), "older");
        await Wait.UntilAsync(() => d.ModelRewrites.FindRule("llama")?.ObjectName == "newer", "rewrite deleted");
        Assert.Null(d.ModelRewrites.FindRule("mistral") is { ObjectName: "older" } ? "stale" : null);
    }

    [Fact]
    public async Task PoolMode_CrdsMissing_SkipsThoseWatchersAndStillServesEndpoints()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.ExperimentalResources = null; // discovery → 404
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000]));
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1"));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("critical", 10, "pool"));

        await using var d = Create(h, new KubernetesOptions { PoolName = "pool" }, new() { ["NAMESPACE"] = "ns1" });
        await d.StartAsync(CancellationToken.None);
        await Wait.UntilAsync(() => d.Source.IsSynced && h.Registry.Current.Count == 1, "endpoints without CRDs");
        await Wait.UntilAsync(() => h.Server.ActiveWatchCount == 2, "pool and pod watches only");
        Assert.Null(d.PriorityFor("critical"));
        Assert.True(d.ModelRewrites.IsEmpty);
    }

    [Fact]
    public async Task PoolMode_OnlyObjectivesCrd_WatchesObjectivesOnly()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.ExperimentalResources = ["inferenceobjectives"];
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000]));
        h.Server.Upsert(FakeKubeApiServer.Objectives("ns1"), Objective("critical", 10, "pool"));

        await using var d = Create(h, new KubernetesOptions { PoolName = "pool", PoolNamespace = "ns1" });
        await d.StartAsync(CancellationToken.None);
        await Wait.UntilAsync(() => d.PriorityFor("critical") == 10, "objective");
        await Wait.UntilAsync(() => h.Server.ActiveWatchCount == 3, "pool, pod and objective watches");
        Assert.True(d.ModelRewrites.IsEmpty);
    }

    [Fact]
    public async Task PoolMode_WithLeaderElection_ReconcilesOnlyOnTheLeader()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool", s_vllm, [8000]));
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("a", "10.0.0.1"));
        var options = new KubernetesOptions { PoolName = "pool", PoolNamespace = "ns1", EnableLeaderElection = true };

        var standbyRegistry = new FastEpp.Endpoints.EndpointRegistry();
        await using var leader = Create(h, options);
        await leader.StartAsync(CancellationToken.None);
        await Wait.UntilAsync(() => leader.Leader.IsLeader && h.Registry.Current.Count == 1, "leader reconciles");
        var lease = h.Server.Get(FakeKubeApiServer.Leases("ns1"), "epp-ns1-pool.gateway-api-inference-extension.sigs.k8s.io");
        Assert.NotNull(lease);
        Assert.Equal(((LeaseLeaderElector)leader.Leader).Identity, lease["spec"]!["holderIdentity"]!.GetValue<string>());

        await using var standby = KubernetesDiscovery.Create(options, standbyRegistry, NullLoggerFactory.Instance, h.Config, _ => null,
            new LeaderElectionOptions(), KubeTestHarness.FastInformer);
        await standby.StartAsync(CancellationToken.None);
        await Wait.UntilAsync(() => h.Server.Requests > 0 && !standby.Leader.IsLeader, "standby waits");
        Assert.Equal(0, standbyRegistry.Current.Version); // a non-leader has no endpoints (spec §2.8)

        // Leader shuts down and releases: the standby takes over and starts reconciling.
        await leader.DisposeAsync();
        await Wait.UntilAsync(() => standby.Leader.IsLeader && standbyRegistry.Current.Count == 1, "takeover after release");
    }
}
