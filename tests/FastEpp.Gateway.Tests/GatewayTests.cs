using System.Net;
using System.Text;
using System.Text.Json;
using FastEpp.Perf.Fleet;

namespace FastEpp.Gateway.Tests;

/// <summary>The gateway emulator against a fake ext_proc server and a real in-process fastepp-sim fleet.</summary>
public sealed class GatewayTests : IAsyncLifetime
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

    private static async Task<GatewayServer> StartGatewayAsync(RoutingMode mode, string epp = "", FailureMode failure = FailureMode.Closed, params string[] upstreams)
    {
        var o = new GatewayOptions { Mode = mode, Port = 0, Epp = epp, FailureMode = failure };
        o.Upstreams.AddRange(upstreams);
        GatewayServer g = GatewayServer.Create(o);
        await g.StartAsync();
        return g;
    }

    private static StringContent Chat(string text, int maxTokens, bool stream) => new(
        "{\"model\":\"" + Model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + text + "\"}],\"max_tokens\":" + maxTokens +
        (stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : "") + "}",
        Encoding.UTF8, "application/json");

    private static string Replica(HttpResponseMessage r) => r.Headers.TryGetValues("x-sim-replica", out var v) ? v.First() : "none";

    [Fact]
    public async Task OracleMode_RoutesWhereTheSimOraclePredictsTheLowestTtft()
    {
        var o = new GatewayOptions { Mode = RoutingMode.Oracle, Port = 0, Picker = _sim.OraclePicker() };
        o.Upstreams.AddRange(_sim.Endpoints);
        await using GatewayServer gw = GatewayServer.Create(o);
        await gw.StartAsync();
        string system = string.Concat(Enumerable.Repeat("abc def ghi jkl ", 400)); // 1,600 tokens

        // Warm replica 1 directly with the system prompt, then ask the gateway: the oracle sees replica 1's cache.
        using (HttpResponseMessage warm = await _http.PostAsync("http://" + _sim.Endpoints[1] + "/v1/chat/completions", Chat(system + "q1", 2, stream: false)))
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat(system + "q2", 2, stream: false));

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("1", Replica(r));
        using JsonDocument doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        Assert.True(doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() >= 1584);

        // A body the oracle cannot read (unknown model) goes round robin and counts as a fallback; the sim answers 404.
        using HttpResponseMessage bad = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions",
            new StringContent("{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, bad.StatusCode);
        Assert.Equal(1, gw.Stats.Fallbacks);
        Assert.Null(GatewayOptions.Parse(["--mode", "oracle", "--upstreams", "a:1"], out string? error));
        Assert.Contains("in-process", error);
    }

    [Fact]
    public async Task EppMode_RoutesToDestinationHeader_AndSendsMutatedBody()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Destination = _sim.Endpoints[2];
        // The fake replaces the prompt with a longer one: the sim's prompt_tokens proves the upstream got the EPP's body.
        string longPrompt = new('a', 400);
        epp.Behaviour.ReplacementBody = Encoding.UTF8.GetBytes("{\"model\":\"" + Model + "\",\"prompt\":\"" + longPrompt + "\",\"max_tokens\":2}");
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);

        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/completions", Chat("hi", 2, stream: false));
        string text = await r.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("2", Replica(r));
        Assert.True(r.Headers.Contains("x-went-into-resp-headers"));
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.Equal(100, doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Dictionary<string, string> h = Assert.Single(epp.Behaviour.ReceivedHeaders);
        Assert.Equal("POST", h[":method"]);
        Assert.Equal("/v1/completions", h[":path"]);
        Assert.Equal("http", h[":scheme"]);
        Assert.StartsWith("127.0.0.1:", h[":authority"]);
        Assert.Contains("application/json", h["content-type"]);
        Assert.False(string.IsNullOrEmpty(h["x-request-id"]));
        Assert.Contains("\"content\":\"hi\"", Encoding.UTF8.GetString(Assert.Single(epp.Behaviour.ReceivedBodies)));
        // The gateway forwards the trailers to the EPP after the client already has its response.
        await Wait.UntilAsync(() => epp.Behaviour.ResponseTrailers != 0, "the response trailers reach the EPP");
        Assert.Equal(1, epp.Behaviour.ResponseTrailers);
        Assert.Equal(1, gw.Stats.PerUpstream()[_sim.Endpoints[2]]);
    }

    [Fact]
    public async Task EppMode_LargeBody_IsChunkedBothWays()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Destination = _sim.Endpoints[0];
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);
        string big = new('b', 200_000); // > 62,000: several streamed chunks from the EPP, several 16 KiB chunks to it

        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat(big, 1, stream: false));
        string text = await r.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Contains(big, Encoding.UTF8.GetString(Assert.Single(epp.Behaviour.ReceivedBodies)));
        using JsonDocument doc = JsonDocument.Parse(text);
        Assert.True(doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() >= 50_000);
    }

    [Fact]
    public async Task EppMode_GetWithoutBody_RoutesOnHeadersOnly()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Destination = _sim.Endpoints[1];
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);

        using HttpResponseMessage r = await _http.GetAsync(gw.BaseAddress + "/v1/models");

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("1", Replica(r));
        Assert.Empty(epp.Behaviour.ReceivedBodies);
    }

    [Fact]
    public async Task EppMode_FirstEndpointRefusesConnection_FallsBackToNext()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Destination = "127.0.0.1:" + TestUpstreams.ClosedPort() + "," + _sim.Endpoints[1];
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);

        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("hello", 2, stream: false));

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("1", Replica(r));
        Assert.Equal(1, gw.Stats.Fallbacks);
    }

    [Fact]
    public async Task EppMode_AllEndpointsRefuse_Answers503()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Destination = "127.0.0.1:" + TestUpstreams.ClosedPort();
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);

        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("hello", 2, stream: false));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.Equal(1, gw.Stats.UpstreamErrors);
    }

    [Fact]
    public async Task EppMode_ImmediateResponse_IsRelayed()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Immediate = (429, "inference error: ResourceExhausted - system saturated");
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);

        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("hello", 2, stream: false));

        Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
        Assert.Equal("inference error: ResourceExhausted - system saturated", await r.Content.ReadAsStringAsync());
        Assert.Equal(1, gw.Stats.ImmediateResponses);
        Assert.Empty(gw.Stats.PerUpstream());
    }

    [Fact]
    public async Task EppMode_SseFromSim_StreamsEveryEventThroughTheEpp()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        epp.Behaviour.Destination = _sim.Endpoints[0];
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);

        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("stream me", 20, stream: true));
        string text = await r.Content.ReadAsStringAsync();

        Assert.Equal("text/event-stream", r.Content.Headers.ContentType?.MediaType);
        int events = text.Split("data: ").Length - 1;
        Assert.Equal(20 + 3, events); // role chunk + 20 tokens + usage chunk + [DONE]
        Assert.Contains("\"completion_tokens\":20", text);
        Assert.EndsWith("data: [DONE]\n\n", text);
        Assert.True(epp.Behaviour.ResponseChunks >= 2);
    }

    [Fact]
    public async Task EppMode_SseEventIsRelayedBeforeTheUpstreamFinishes()
    {
        await using FakeExtProcServer epp = await FakeExtProcServer.StartAsync();
        await using HeldSseUpstream upstream = await HeldSseUpstream.StartAsync();
        epp.Behaviour.Destination = upstream.Endpoint;
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, epp.Address);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a buffering gateway fails here, not hangs

        using var request = new HttpRequestMessage(HttpMethod.Post, gw.BaseAddress + "/v1/chat/completions") { Content = Chat("x", 2, stream: true) };
        using HttpResponseMessage r = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, guard.Token);
        using var reader = new StreamReader(await r.Content.ReadAsStreamAsync(guard.Token));
        string? firstLine = await reader.ReadLineAsync(guard.Token);
        upstream.Release();
        string rest = await reader.ReadToEndAsync(guard.Token);

        Assert.Equal("data: first", firstLine);
        Assert.Contains("data: second", rest);
    }

    [Fact]
    public async Task EppUnreachable_FailOpen_RoutesRoundRobin()
    {
        string deadEpp = "127.0.0.1:" + TestUpstreams.ClosedPort();
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, deadEpp, FailureMode.Open, _sim.Endpoints);

        var replicas = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("open " + i, 2, stream: false));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            replicas.Add(Replica(r));
        }

        Assert.Equal(["0", "1", "2"], replicas);
        Assert.Equal(3, gw.Stats.FailOpen);
        Assert.Equal(3, gw.Stats.EppErrors);
    }

    [Fact]
    public async Task EppUnreachable_FailClosed_Answers503()
    {
        string deadEpp = "127.0.0.1:" + TestUpstreams.ClosedPort();
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Epp, deadEpp, FailureMode.Closed);

        using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("closed", 2, stream: false));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.Equal(1, gw.Stats.FailClosed);
        Assert.Empty(gw.Stats.PerUpstream());
    }

    [Fact]
    public async Task RoundRobin_SpreadsEvenly()
    {
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.RoundRobin, upstreams: _sim.Endpoints);

        var counts = new Dictionary<string, int>();
        for (int i = 0; i < 9; i++)
        {
            using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("rr " + i, 1, stream: true));
            await r.Content.ReadAsStringAsync();
            string replica = Replica(r);
            counts[replica] = counts.GetValueOrDefault(replica) + 1;
        }

        Assert.Equal(3, counts.Count);
        Assert.All(counts.Values, c => Assert.Equal(3, c));
        Assert.Equal(9, gw.Stats.Status2xx);
    }

    [Fact]
    public async Task Random_UsesOnlyConfiguredUpstreams()
    {
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.Random, upstreams: _sim.Endpoints);

        for (int i = 0; i < 12; i++)
        {
            using HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("rnd " + i, 1, stream: false));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }

        Dictionary<string, long> per = gw.Stats.PerUpstream();
        Assert.Equal(12, per.Values.Sum());
        Assert.All(per.Keys, k => Assert.Contains(k, _sim.Endpoints));
    }

    [Fact]
    public async Task StatsEndpoint_AnswersJson()
    {
        await using GatewayServer gw = await StartGatewayAsync(RoutingMode.RoundRobin, upstreams: _sim.Endpoints);
        using (HttpResponseMessage r = await _http.PostAsync(gw.BaseAddress + "/v1/chat/completions", Chat("s", 1, stream: false)))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);

        using JsonDocument doc = JsonDocument.Parse(await _http.GetStringAsync(gw.BaseAddress + "/gateway/stats"));

        Assert.Equal("round-robin", doc.RootElement.GetProperty("mode").GetString());
        Assert.Equal(1, doc.RootElement.GetProperty("requests").GetInt64());
        Assert.Equal(1, doc.RootElement.GetProperty("perUpstream").GetProperty(_sim.Endpoints[0]).GetInt64());
    }

    [Fact]
    public void Options_RejectBadCombinations()
    {
        Assert.Null(GatewayOptions.Parse(["--mode", "epp"], out string? e1));
        Assert.Contains("--epp", e1);
        Assert.Null(GatewayOptions.Parse(["--mode", "round-robin"], out string? e2));
        Assert.Contains("--upstreams", e2);
        Assert.Null(GatewayOptions.Parse(["--mode", "magic"], out _));
        GatewayOptions? ok = GatewayOptions.Parse(["--mode=epp", "--epp", "h:1", "--failure-mode", "open", "--upstreams", "a:1, b:2"], out _);
        Assert.NotNull(ok);
        Assert.Equal(FailureMode.Open, ok.FailureMode);
        Assert.Equal(["a:1", "b:2"], ok.Upstreams);
    }
}
