using System.Net;
using System.Text;
using System.Text.Json;
using FastEpp.Perf.Commands;
using FastEpp.Perf.Fleet;
using FastEpp.Perf.Report;
using FastEpp.Perf.Workloads;

namespace FastEpp.Gateway.Tests;

/// <summary>
/// Several EPP replicas behind the gateway (ext_proc streams round robin over the addresses) and traffic that bypasses
/// the EPP (<c>--bypass-fraction</c>): real gateway over loopback, fake ext_proc servers, a real fastepp-sim fleet.
/// </summary>
public sealed class EppReplicasAndBypassTests : IAsyncLifetime
{
    private const string Model = "meta-llama/Llama-3.1-8B-Instruct";
    private SimHost _sim = null!;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(60) };

    public async Task InitializeAsync() =>
        _sim = await SimHost.StartAsync(["--replicas", "3", "--port", "0", "--time-scale", "0.01"]);

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _sim.DisposeAsync();
    }

    private static StringContent Chat(string text) => new(
        "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + text + "\"}],\"max_tokens\":1}",
        Encoding.UTF8, "application/json");

    private static string Replica(HttpResponseMessage r) => r.Headers.TryGetValues("x-sim-replica", out var v) ? v.First() : "none";

    private async Task<(HttpStatusCode Status, string Replica)> PostAsync(GatewayServer gw, string text, string? requestId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, gw.BaseAddress + "/v1/chat/completions") { Content = Chat(text) };
        if (requestId is not null)
            request.Headers.Add("x-request-id", requestId);
        using HttpResponseMessage r = await _http.SendAsync(request);
        await r.Content.ReadAsStringAsync();
        return (r.StatusCode, Replica(r));
    }

    [Fact]
    public async Task TwoEpps_EachRequestAsksTheNextOne_RoundRobin()
    {
        await using FakeExtProcServer a = await FakeExtProcServer.StartAsync();
        await using FakeExtProcServer b = await FakeExtProcServer.StartAsync();
        a.Behaviour.Destination = _sim.Endpoints[0];
        b.Behaviour.Destination = _sim.Endpoints[1];
        // The command line's comma-separated list is what the gateway gets.
        GatewayOptions o = GatewayOptions.Parse(["--mode", "epp", "--epp", a.Address + ", " + b.Address, "--port", "0"], out string? error)
            ?? throw new InvalidOperationException(error);
        Assert.Equal([a.Address, b.Address], o.Epps);
        await using GatewayServer gw = GatewayServer.Create(o);
        await gw.StartAsync();

        var replicas = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            (HttpStatusCode status, string replica) = await PostAsync(gw, "spread " + i);
            Assert.Equal(HttpStatusCode.OK, status);
            replicas.Add(replica);
        }

        Assert.Equal(["0", "1", "0", "1", "0", "1"], replicas);
        Assert.Equal(3, a.Behaviour.ReceivedBodies.Count);
        Assert.Equal(3, b.Behaviour.ReceivedBodies.Count);
        Dictionary<string, long> perEpp = gw.Stats.PerEpp();
        Assert.Equal(3, perEpp[a.Address]);
        Assert.Equal(3, perEpp[b.Address]);
        using JsonDocument doc = JsonDocument.Parse(await _http.GetStringAsync(gw.BaseAddress + "/gateway/stats"));
        Assert.Equal(3, doc.RootElement.GetProperty("perEpp").GetProperty(b.Address).GetInt64());
    }

    [Fact]
    public async Task TwoEpps_OneDown_FailureModeAppliesToTheRequestsThatAskedIt()
    {
        await using FakeExtProcServer a = await FakeExtProcServer.StartAsync();
        a.Behaviour.Destination = _sim.Endpoints[2];
        string dead = "127.0.0.1:" + TestUpstreams.ClosedPort();
        var o = new GatewayOptions { Mode = RoutingMode.Epp, Port = 0, Epp = a.Address + "," + dead, FailureMode = FailureMode.Closed };
        await using GatewayServer gw = GatewayServer.Create(o);
        await gw.StartAsync();

        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 4; i++)
            statuses.Add((await PostAsync(gw, "half " + i)).Status);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable, HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable], statuses);
        Assert.Equal(2, gw.Stats.FailClosed);
        Assert.Equal(2, gw.Stats.EppErrors);
        Assert.Equal(2, a.Behaviour.ReceivedBodies.Count);
    }

    [Fact]
    public async Task Bypass_TheSeedsShareOfRequests_GoesRoundRobin_WithoutAnExtProcCall_AndIsCounted()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Destination = _sim.Endpoints[2];
        const int seed = 7;
        GatewayOptions o = GatewayOptions.Parse(["--mode", "epp", "--epp", epp.Address, "--port", "0", "--upstreams", string.Join(',', _sim.Endpoints),
            "--bypass-fraction", "0.3", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture)], out string? error)
            ?? throw new InvalidOperationException(error);
        await using GatewayServer gw = GatewayServer.Create(o);
        await gw.StartAsync();

        const int n = 40;
        string[] ids = Enumerable.Range(0, n).Select(i => "perf-" + i).ToArray();
        HashSet<string> expected = ids.Where(id => BypassSelector.IsBypassed(seed, 0.3, id)).ToHashSet();
        Assert.InRange(expected.Count, 4, 20); // a real share, neither none nor all
        var bypassedReplicas = new List<string>();
        foreach (string id in ids)
        {
            (HttpStatusCode status, string replica) = await PostAsync(gw, "bypass " + id, id);
            Assert.Equal(HttpStatusCode.OK, status);
            if (expected.Contains(id))
                bypassedReplicas.Add(replica);
            else
                Assert.Equal("2", replica); // the EPP's pick
        }

        // Exactly the chosen requests skipped the EPP: it saw every other id and none of them.
        var seenByEpp = epp.Behaviour.ReceivedHeaders.Select(h => h["x-request-id"]).ToHashSet();
        Assert.Equal(ids.Where(id => !expected.Contains(id)).ToHashSet(), seenByEpp);
        Assert.Equal(expected.Count, gw.Stats.Bypassed);
        Assert.Equal(n, gw.Stats.Requests);
        // Bypassed requests go round robin over the upstreams (their own rotation).
        Assert.Equal(Enumerable.Range(0, bypassedReplicas.Count).Select(i => (i % 3).ToString(System.Globalization.CultureInfo.InvariantCulture)), bypassedReplicas);
        using JsonDocument doc = JsonDocument.Parse(await _http.GetStringAsync(gw.BaseAddress + "/gateway/stats"));
        Assert.Equal(expected.Count, doc.RootElement.GetProperty("bypassed").GetInt64());
    }

    [Fact]
    public async Task Bypass_AppliesToTheOracleToo()
    {
        var o = new GatewayOptions { Mode = RoutingMode.Oracle, Port = 0, Picker = (_, _) => _sim.Endpoints[1], BypassFraction = 1, Seed = 3 };
        o.Upstreams.AddRange(_sim.Endpoints);
        await using GatewayServer gw = GatewayServer.Create(o);
        await gw.StartAsync();

        var replicas = new List<string>();
        for (int i = 0; i < 3; i++)
            replicas.Add((await PostAsync(gw, "all bypass " + i)).Replica);

        Assert.Equal(["0", "1", "2"], replicas); // round robin, not the picker's replica 1
        Assert.Equal(3, gw.Stats.Bypassed);
        Assert.Equal(0, gw.Stats.PickTime.Count);
    }

    [Fact]
    public void BypassSelector_IsDeterministic_SeededAndHitsTheShare()
    {
        string[] ids = Enumerable.Range(0, 20_000).Select(i => "perf-" + i).ToArray();
        bool[] a = ids.Select(id => BypassSelector.IsBypassed(1, 0.3, id)).ToArray();
        bool[] again = ids.Select(id => BypassSelector.IsBypassed(1, 0.3, id)).ToArray();
        bool[] other = ids.Select(id => BypassSelector.IsBypassed(2, 0.3, id)).ToArray();

        Assert.Equal(a, again);
        Assert.NotEqual(a, other);
        Assert.InRange(a.Count(x => x) / (double)ids.Length, 0.29, 0.31);
        Assert.DoesNotContain(true, ids.Select(id => BypassSelector.IsBypassed(1, 0, id)));
        Assert.DoesNotContain(false, ids.Select(id => BypassSelector.IsBypassed(1, 1, id)));
        // A smaller share picks a subset of a larger one's requests (same draws).
        Assert.All(ids, id => Assert.True(!BypassSelector.IsBypassed(1, 0.1, id) || BypassSelector.IsBypassed(1, 0.3, id)));
    }

    [Theory]
    [InlineData("1.5", "--bypass-fraction must be within 0..1")]
    [InlineData("-0.1", "--bypass-fraction must be within 0..1")]
    [InlineData("NaN", "--bypass-fraction must be within 0..1")]
    [InlineData("lots", "--bypass-fraction must be a number within 0..1")]
    public void GatewayOptions_BadBypassFraction_IsAClearError(string value, string message)
    {
        Assert.Null(GatewayOptions.Parse(["--mode", "epp", "--epp", "h:1", "--upstreams", "a:1", "--bypass-fraction", value], out string? error));
        Assert.Contains(message, error);
    }

    [Fact]
    public void GatewayOptions_BypassNeedsUpstreams_AndAnEppMode()
    {
        Assert.Null(GatewayOptions.Parse(["--mode", "epp", "--epp", "h:1", "--bypass-fraction", "0.2"], out string? e1));
        Assert.Contains("--bypass-fraction needs --upstreams", e1);
        Assert.Null(GatewayOptions.Parse(["--mode", "round-robin", "--upstreams", "a:1", "--bypass-fraction", "0.2"], out string? e2));
        Assert.Contains("applies to mode epp", e2);
        Assert.Null(GatewayOptions.Parse(["--mode", "epp", "--epp", ",", "--upstreams", "a:1"], out string? e3));
        Assert.Contains("--mode epp needs --epp", e3);
        Assert.Contains("--bypass-fraction", GatewayOptions.Usage);
        Assert.Contains("host:port[,host:port]", GatewayOptions.Usage);
    }

    private static WorkloadFile Parse(string fleet) => WorkloadFile.Parse(
        "load: {stages: [{rate: 1, duration: 1}]}\nfleet: " + fleet + "\n", "w", "w.yaml");

    [Fact]
    public void WorkloadFile_MapsEppReplicasAndBypassFraction_DefaultsOneAndZero()
    {
        WorkloadFile f = Parse("{replicas: 4, epp_replicas: 2, bypass_fraction: 0.3}");
        Assert.Empty(f.Notes);
        Assert.Equal((4, 2, 0.3), (f.Spec.Replicas, f.Spec.EppReplicas, f.Spec.BypassFraction));
        WorkloadSpec scaled = f.Spec.Scale(0.5, 0.5);
        Assert.Equal((2, 0.3), (scaled.EppReplicas, scaled.BypassFraction)); // not scaled

        WorkloadFile plain = Parse("{replicas: 4}");
        Assert.Equal((1, 0.0), (plain.Spec.EppReplicas, plain.Spec.BypassFraction));
        Assert.Equal(1, Parse("{bypass_fraction: 1}").Spec.BypassFraction);
        Assert.Equal(0, Parse("{bypass_fraction: 0}").Spec.BypassFraction);
    }

    [Theory]
    [InlineData("{epp_replicas: 0}", "w.yaml:2: fleet.epp_replicas must be an integer 1..64")]
    [InlineData("{epp_replicas: -1}", "fleet.epp_replicas must be an integer 1..64")]
    [InlineData("{epp_replicas: 1.5}", "fleet.epp_replicas must be an integer 1..64")]
    [InlineData("{epp_replicas: two}", "fleet.epp_replicas must be a number")]
    [InlineData("{bypass_fraction: 1.5}", "fleet.bypass_fraction must be within 0..1")]
    [InlineData("{bypass_fraction: -0.2}", "fleet.bypass_fraction must be within 0..1")]
    public void WorkloadFile_BadEppReplicasOrBypass_IsAClearError(string fleet, string message)
    {
        FormatException ex = Assert.Throws<FormatException>(() => Parse(fleet));
        Assert.Contains(message, ex.Message);
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("-0.5")]
    [InlineData("x")]
    public void CompareFlag_BadBypassFraction_IsAClearError(string value)
    {
        Flags f = Flags.Parse(["--bypass-fraction", value], out _)!;
        FormatException ex = Assert.Throws<FormatException>(() => f.Fraction("bypass-fraction", 0));
        Assert.Contains("--bypass-fraction must be a number within 0..1", ex.Message);
        Assert.Equal(0.25, Flags.Parse(["--bypass-fraction", "0.25"], out _)!.Fraction("bypass-fraction", 0));
        Assert.Equal(0.4, Flags.Parse([], out _)!.Fraction("bypass-fraction", 0.4));
    }

    [Fact]
    public void WorkloadFiles_TwoEppsAndBypass_AreTheOverKvDataWithTheirKey()
    {
        WorkloadFile baseFile = WorkloadCatalog.Find("many-prompts-over-kv")!;
        WorkloadFile two = WorkloadCatalog.Find("two-epps-over-kv")!;
        WorkloadFile bypass = WorkloadCatalog.Find("bypass-over-kv")!;
        Assert.Empty(two.Notes);
        Assert.Empty(bypass.Notes);
        Assert.Equal((2, 0.0), (two.Spec.EppReplicas, two.Spec.BypassFraction));
        Assert.Equal((1, 0.3), (bypass.Spec.EppReplicas, bypass.Spec.BypassFraction));
        foreach (WorkloadSpec s in new[] { two.Spec, bypass.Spec })
        {
            WorkloadSpec b = baseFile.Spec;
            Assert.Equal((b.Groups, b.PromptsPerGroup, b.SystemPrompt, b.Question, b.Output, b.Replicas, b.SimProfile, b.MaxConcurrency, b.Arrivals),
                (s.Groups, s.PromptsPerGroup, s.SystemPrompt, s.Question, s.Output, s.Replicas, s.SimProfile, s.MaxConcurrency, s.Arrivals));
            Assert.Equal(b.SimArgs, s.SimArgs);
            Assert.Equal(b.Stages, s.Stages);
        }
    }

    [Fact]
    public void Report_SaysTheEppFiguresAreSums_AndTheBypassShare()
    {
        var r = new CompareReport { Workload = "w", EppBinary = "fastepp", EppReplicas = 2, BypassFraction = 0.3 };
        r.Modes.Add(new ModeReport { Mode = "fastepp-default", EppReplicas = 2, EppCpuMsPerRequest = 1.5, EppPeakRssMiB = 200 });
        string md = ReportWriter.Markdown(r);
        Assert.Contains("2 EPP replicas per EPP mode, active-active", md);
        Assert.Contains("EPP CPU and RSS columns are sums over the replicas", md);
        Assert.Contains("EPP CPU ms/req (sum of 2)", md);
        Assert.Contains("bypass fraction 0.3", md);
        Assert.Contains("EPP peak RSS MiB (sum of 2)", ReportWriter.Html(r));

        var single = new CompareReport { Workload = "w", EppBinary = "fastepp" };
        string plain = ReportWriter.Markdown(single);
        Assert.DoesNotContain("sum of", plain);
        Assert.DoesNotContain("bypass", plain);
    }
}
