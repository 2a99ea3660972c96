using System.Net;
using FastEpp.Kubernetes;

namespace FastEpp.Tests.Kubernetes;

public sealed class LeaseLeaderElectorTests
{
    private const string LeaseName = "epp-ns1-pool.gateway-api-inference-extension.sigs.k8s.io";

    private static readonly LeaderElectionOptions s_fast = new()
    {
        LeaseDuration = TimeSpan.FromSeconds(1),
        RenewDeadline = TimeSpan.FromMilliseconds(600),
        RetryPeriod = TimeSpan.FromMilliseconds(100),
    };

    private sealed class Candidate : IAsyncDisposable
    {
        private readonly CancellationTokenSource _cts = new();

        public Candidate(KubeTestHarness h, string identity, LeaderElectionOptions options)
        {
            Elector = new LeaseLeaderElector(h.Client, "ns1", LeaseName, identity, options, KubeTestHarness.Logger);
            Elector.LeadershipChanged += v => { lock (Changes) Changes.Add(v); };
            Run = Elector.RunAsync(_cts.Token);
        }

        public LeaseLeaderElector Elector { get; }
        public Task Run { get; }
        public List<bool> Changes { get; } = new();

        public async Task StopAsync()
        {
            await _cts.CancelAsync();
            await Run;
        }

        public async ValueTask DisposeAsync() => await StopAsync();
    }

    private static string? Holder(KubeTestHarness h) =>
        h.Server.Get(FakeKubeApiServer.Leases("ns1"), LeaseName)?["spec"]?["holderIdentity"]?.GetValue<string>();

    private static string? Spec(KubeTestHarness h, string field) =>
        h.Server.Get(FakeKubeApiServer.Leases("ns1"), LeaseName)?["spec"]?[field]?.ToString();

    [Fact]
    public async Task Run_NoLease_CreatesItAndBecomesLeader()
    {
        await using var h = await KubeTestHarness.StartAsync();
        await using var a = new Candidate(h, "a", s_fast);
        await Wait.UntilAsync(() => a.Elector.IsLeader, "a leads");
        Assert.Equal("a", Holder(h));
        Assert.Equal("1", Spec(h, "leaseDurationSeconds"));
        Assert.Equal("0", Spec(h, "leaseTransitions"));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", Spec(h, "renewTime")!); // MicroTime layout
        lock (a.Changes)
            Assert.Equal([true], a.Changes);
    }

    [Fact]
    public async Task Run_Leader_RenewsKeepingAcquireTime()
    {
        await using var h = await KubeTestHarness.StartAsync();
        await using var a = new Candidate(h, "a", s_fast);
        await Wait.UntilAsync(() => a.Elector.IsLeader, "a leads");
        string acquire = Spec(h, "acquireTime")!;
        string renew = Spec(h, "renewTime")!;
        await Wait.UntilAsync(() => Spec(h, "renewTime") != renew, "renewed");
        Assert.Equal(acquire, Spec(h, "acquireTime"));
        Assert.Equal("a", Holder(h));
        Assert.True(a.Elector.IsLeader);
    }

    [Fact]
    public async Task Run_LeaderCrashes_StandbyTakesOverAfterExpiry()
    {
        await using var h = await KubeTestHarness.StartAsync();
        var crashing = s_fast with { ReleaseOnCancel = false };
        var a = new Candidate(h, "a", crashing);
        await Wait.UntilAsync(() => a.Elector.IsLeader, "a leads");

        await using var b = new Candidate(h, "b", s_fast);
        await Wait.UntilAsync(() => h.Server.Requests > 3, "b tried");
        Assert.False(b.Elector.IsLeader); // a's lease is still valid and being renewed

        await a.StopAsync(); // no release: the lease must expire
        Assert.Equal("a", Holder(h));
        await Wait.UntilAsync(() => b.Elector.IsLeader, "b takes over after expiry");
        Assert.Equal("b", Holder(h));
        Assert.Equal("1", Spec(h, "leaseTransitions"));
    }

    [Fact]
    public async Task Run_LeaderReleasesOnShutdown_StandbyTakesOverWithoutWaitingForExpiry()
    {
        await using var h = await KubeTestHarness.StartAsync();
        var slowExpiry = s_fast with { LeaseDuration = TimeSpan.FromMinutes(5), RenewDeadline = TimeSpan.FromSeconds(5) };
        var a = new Candidate(h, "a", slowExpiry);
        await Wait.UntilAsync(() => a.Elector.IsLeader, "a leads");
        await using var b = new Candidate(h, "b", slowExpiry);

        await a.StopAsync();
        Assert.False(a.Elector.IsLeader);
        lock (a.Changes)
            Assert.Equal([true, false], a.Changes);
        // The lease has 5 minutes left, so only the release lets b in within the test timeout.
        await Wait.UntilAsync(() => b.Elector.IsLeader, "b acquires the released lease");
        Assert.Equal("b", Holder(h));
    }

    [Fact]
    public async Task Run_ApiServerUnreachable_LosesLeadershipAfterRenewDeadlineAndReacquires()
    {
        await using var h = await KubeTestHarness.StartAsync();
        await using var a = new Candidate(h, "a", s_fast);
        await Wait.UntilAsync(() => a.Elector.IsLeader, "a leads");

        h.Server.FailLeases = true;
        await Wait.UntilAsync(() => !a.Elector.IsLeader, "leadership lost");
        lock (a.Changes)
            Assert.Equal([true, false], a.Changes);

        h.Server.FailLeases = false;
        await Wait.UntilAsync(() => a.Elector.IsLeader, "re-acquired its own lease");
    }

    [Fact]
    public async Task Run_TwoCandidates_ExactlyOneLeads()
    {
        await using var h = await KubeTestHarness.StartAsync();
        // A renew deadline that a loaded CI box cannot miss, so the one-instant check below sees the steady state.
        var steady = new LeaderElectionOptions
        {
            LeaseDuration = TimeSpan.FromSeconds(5),
            RenewDeadline = TimeSpan.FromSeconds(4),
            RetryPeriod = TimeSpan.FromMilliseconds(100),
        };
        await using var a = new Candidate(h, "a", steady);
        await using var b = new Candidate(h, "b", steady);
        await Wait.UntilAsync(() => a.Elector.IsLeader || b.Elector.IsLeader, "someone leads");
        await Wait.UntilAsync(() => h.Server.Requests > 10, "several rounds of renew/acquire");
        Assert.True(a.Elector.IsLeader ^ b.Elector.IsLeader);
        Assert.Equal(a.Elector.IsLeader ? "a" : "b", Holder(h));
    }

    [Fact]
    public async Task Replace_StaleResourceVersion_IsConflict()
    {
        await using var h = await KubeTestHarness.StartAsync();
        await using var a = new Candidate(h, "a", s_fast);
        await Wait.UntilAsync(() => a.Elector.IsLeader, "a leads");
        var path = FakeKubeApiServer.Leases("ns1") + "/" + LeaseName;
        var lease = (await h.Client.GetAsync(path, KubeJsonContext.Default.Lease, CancellationToken.None))!;
        lease.Metadata.ResourceVersion = "1";
        var ex = await Assert.ThrowsAsync<KubeApiException>(() =>
            h.Client.SendAsync(HttpMethod.Put, path, lease, KubeJsonContext.Default.Lease, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Conflict, ex.StatusCode);
        Assert.Equal("Conflict", ex.Reason);
    }

    [Fact]
    public async Task AlwaysLeader_IsLeaderWithoutElection()
    {
        var leader = new AlwaysLeader();
        Assert.True(leader.IsLeader);
        await leader.RunAsync(CancellationToken.None);
        Assert.True(leader.IsLeader);
    }
}
