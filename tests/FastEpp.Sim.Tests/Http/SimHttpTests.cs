using System.Globalization;
using System.Net;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;
using System.Text.Json;

namespace FastEpp.Sim.Tests.Http;

/// <summary>The OpenAI surface, headers, metrics and faults over real HTTP on loopback.</summary>
public sealed class SimHttpTests
{
    private const string Model = "meta-llama/Llama-3.1-8B-Instruct";

    [Fact]
    public async Task Completions_NonStreaming_ReturnsJsonWithUsage()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--replicas", "2");
        using HttpResponseMessage resp = await h.PostJsonAsync(1, "/v1/completions",
            $$"""{"model":"{{Model}}","prompt":"The quick brown fox jumps over the lazy dog","max_tokens":7}""");
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.Equal("application/json", resp.Content.Headers.ContentType?.MediaType);
        Assert.Equal("1", resp.Headers.GetValues("x-sim-replica").Single());
        Assert.Equal($"127.0.0.1:{h.Fleet.Replicas[1].Port}", resp.Headers.GetValues("x-sim-endpoint").Single());

        using JsonDocument doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
        JsonElement root = doc.RootElement;
        Assert.Equal("text_completion", root.GetProperty("object").GetString());
        Assert.Equal(Model, root.GetProperty("model").GetString());
        JsonElement choice = root.GetProperty("choices")[0];
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(7 * 4, choice.GetProperty("text").GetString()!.Length);
        JsonElement usage = root.GetProperty("usage");
        Assert.Equal(11, usage.GetProperty("prompt_tokens").GetInt32());   // 43 chars / 4
        Assert.Equal(7, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(18, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task ChatCompletions_NonStreaming_ReturnsAssistantMessage()
    {
        await using FleetHarness h = await FleetHarness.StartAsync();
        using HttpResponseMessage resp = await h.PostJsonAsync(0, "/v1/chat/completions",
            $$"""{"model":"{{Model}}","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi there"}]}],"max_completion_tokens":3}""");
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        using JsonDocument doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
        Assert.Equal("chat.completion", doc.RootElement.GetProperty("object").GetString());
        JsonElement message = doc.RootElement.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        Assert.Equal(12, message.GetProperty("content").GetString()!.Length);
        Assert.Equal(3, doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Streaming_SendsOneEventPerToken_ThenUsageChunk_ThenDone(bool chat)
    {
        await using FleetHarness h = await FleetHarness.StartAsync();
        string body = chat
            ? $$$"""{"model":"{{{Model}}}","messages":[{"role":"user","content":"tell me a story"}],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}"""
            : $$$"""{"model":"{{{Model}}}","prompt":"tell me a story","max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}""";
        using HttpResponseMessage resp = await h.PostJsonAsync(0, chat ? "/v1/chat/completions" : "/v1/completions", body);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.Equal("text/event-stream", resp.Content.Headers.ContentType?.MediaType);
        string text = await resp.Content.ReadAsStringAsync();

        string[] events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var payloads = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..])).ToList();
        try
        {
            var withChoices = payloads.Where(p => p.RootElement.GetProperty("choices").GetArrayLength() > 0).ToList();
            int tokenEvents = withChoices.Count - (chat ? 1 : 0);   // chat opens with a role chunk
            Assert.Equal(5, tokenEvents);
            Assert.Equal("length", withChoices[^1].RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
            Assert.All(withChoices[..^1], p => Assert.Equal(JsonValueKind.Null, p.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
            JsonElement last = payloads[^1].RootElement;
            Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
            Assert.Equal(5, last.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.Equal(chat ? "chat.completion.chunk" : "text_completion", last.GetProperty("object").GetString());
            Assert.Single(payloads.Select(p => p.RootElement.GetProperty("id").GetString()).Distinct());
        }
        finally
        {
            payloads.ForEach(p => p.Dispose());
        }
    }

    [Fact]
    public async Task Streaming_InChunks_SendsTheFirstTokenAlone_ThenChunksOfN()
    {
        // The perf suite streams 10 tokens per event to spare CPU; TTFT is measured on the first content event, so the
        // first token must not wait for nine more.
        await using FleetHarness h = await FleetHarness.StartAsync("--stream-chunk-tokens", "10");
        using HttpResponseMessage resp = await h.PostJsonAsync(0, "/v1/completions",
            $$"""{"model":"{{Model}}","prompt":"tell me a story","max_tokens":25,"stream":true}""");
        string text = await resp.Content.ReadAsStringAsync();
        var sizes = new List<int>();
        foreach (string e in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            if (e == "data: [DONE]")
                continue;
            using JsonDocument doc = JsonDocument.Parse(e["data: ".Length..]);
            sizes.Add(doc.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!.Length / 4); // 4 chars per token
        }
        Assert.Equal(new[] { 1, 10, 10, 4 }, sizes);
    }

    [Fact]
    public async Task Streaming_WithoutIncludeUsage_HasNoUsageChunk()
    {
        await using FleetHarness h = await FleetHarness.StartAsync();
        using HttpResponseMessage resp = await h.PostJsonAsync(0, "/v1/completions",
            $$"""{"model":"{{Model}}","prompt":"x","max_tokens":2,"stream":true}""");
        string text = await resp.Content.ReadAsStringAsync();
        Assert.DoesNotContain("\"usage\"", text);
        Assert.EndsWith("data: [DONE]\n\n", text);
    }

    [Fact]
    public async Task SharedPrefix_IsReportedAsCachedTokens()
    {
        await using FleetHarness h = await FleetHarness.StartAsync();
        string system = string.Concat(Enumerable.Repeat("You are a helpful assistant. ", 40));
        async Task<int> Cached(string question)
        {
            using HttpResponseMessage resp = await h.PostJsonAsync(0, "/v1/chat/completions",
                $$"""{"model":"{{Model}}","messages":[{"role":"system","content":"{{system}}"},{"role":"user","content":"{{question}}"}],"max_tokens":1}""");
            using JsonDocument doc = JsonDocument.Parse(await resp.Content.ReadAsStringAsync());
            return doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        }
        Assert.Equal(0, await Cached("first question"));
        Assert.True(await Cached("second question") >= 256);   // ~1,160 system bytes = 18 full blocks
    }

    [Fact]
    public async Task Models_ListsBaseAndAdapters()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--lora-modules", "food-review-1,sql-lora", "--model", "base-m");
        using JsonDocument doc = JsonDocument.Parse(await h.Client.GetStringAsync(h.Url(0, "/v1/models")));
        string[] ids = doc.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToArray();
        Assert.Equal(["base-m", "food-review-1", "sql-lora"], ids);
        Assert.Equal("base-m", doc.RootElement.GetProperty("data")[1].GetProperty("parent").GetString());
    }

    [Fact]
    public async Task Errors_AreOpenAiShaped()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--max-model-len", "100");
        using HttpResponseMessage unknown = await h.PostJsonAsync(0, "/v1/completions", """{"model":"nope","prompt":"x"}""");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using (JsonDocument doc = JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()))
        {
            Assert.Equal(404, doc.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        }
        using HttpResponseMessage bad = await h.PostJsonAsync(0, "/v1/completions", "{\"model\":");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using HttpResponseMessage missing = await h.PostJsonAsync(0, "/v1/chat/completions", $$"""{"model":"{{Model}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        using HttpResponseMessage tooLong = await h.PostJsonAsync(0, "/v1/completions", $$"""{"model":"{{Model}}","prompt":"x","max_tokens":500}""");
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        using HttpResponseMessage route = await h.Client.GetAsync(h.Url(0, "/v2/nothing"));
        Assert.Equal(HttpStatusCode.NotFound, route.StatusCode);
    }

    [Fact]
    public async Task Health_IsOk()
    {
        await using FleetHarness h = await FleetHarness.StartAsync();
        using HttpResponseMessage resp = await h.Client.GetAsync(h.Url(0, "/health"));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
    }

    [Fact]
    public async Task FailRate_One_AnswersEveryInferenceWith500()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--fail-rate", "1");
        using HttpResponseMessage resp = await h.PostJsonAsync(0, "/v1/completions", $$"""{"model":"{{Model}}","prompt":"x","max_tokens":1}""");
        Assert.Equal(HttpStatusCode.InternalServerError, resp.StatusCode);
        using HttpResponseMessage health = await h.Client.GetAsync(h.Url(0, "/health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task HangRate_One_HoldsTheRequestBeforeTheEngine()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--hang-rate", "1", "--hang-ms", "600000");
        using var cts = new CancellationTokenSource();
        Task<HttpResponseMessage> hanging = h.Client.PostAsync(h.Url(0, "/v1/completions"),
            new StringContent($$"""{"model":"{{Model}}","prompt":"x","max_tokens":1}"""), cts.Token);
        for (int i = 0; i < 5; i++)
        {
            PrometheusText m = PrometheusText.Parse(await h.Client.GetStringAsync(h.Url(0, "/metrics")));
            Assert.Equal(0, m.Value("vllm:num_requests_waiting") + m.Value("vllm:num_requests_running") + m.Value("vllm:generation_tokens_total"));
            Assert.False(hanging.IsCompleted);
        }
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hanging);
    }

    [Fact]
    public async Task AdminFaults_ChangeOneReplicaAtRuntime()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--replicas", "2");
        using HttpResponseMessage set = await h.Client.PostAsync(h.Url(1, "/admin/faults?fail-rate=1"), null);
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        string body = $$"""{"model":"{{Model}}","prompt":"x","max_tokens":1}""";
        using HttpResponseMessage ok = await h.PostJsonAsync(0, "/v1/completions", body);
        using HttpResponseMessage failed = await h.PostJsonAsync(1, "/v1/completions", body);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        using HttpResponseMessage bad = await h.Client.PostAsync(h.Url(1, "/admin/faults?fail-rate=2"), null);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Kill_ResetsConnections_ReviveServesAgain()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--replicas", "2");
        string body = $$"""{"model":"{{Model}}","prompt":"x","max_tokens":2}""";

        // A long stream in flight on replica 1 is cut when it is killed.
        Task<string> longStream = Task.Run(async () =>
        {
            using HttpResponseMessage r = await h.PostJsonAsync(1, "/v1/completions", $$"""{"model":"{{Model}}","prompt":"x","max_tokens":100000,"stream":true}""");
            return await r.Content.ReadAsStringAsync();
        });
        using (HttpResponseMessage kill = await h.Client.PostAsync(h.Url(0, "/admin/kill?replica=1"), null))
        {
            Assert.Equal(HttpStatusCode.OK, kill.StatusCode);
        }
        await Assert.ThrowsAnyAsync<Exception>(() => longStream);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => h.PostJsonAsync(1, "/v1/completions", body));
        using (HttpResponseMessage other = await h.PostJsonAsync(0, "/v1/completions", body))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }
        using (HttpResponseMessage revive = await h.Client.PostAsync(h.Url(1, "/admin/revive"), null))
        {
            Assert.Equal(HttpStatusCode.OK, revive.StatusCode);
        }
        using HttpResponseMessage again = await h.PostJsonAsync(1, "/v1/completions", body);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task Replicas_ListenOnConsecutivePorts()
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            int basePort = 20000 + Random.Shared.Next(20000);
            SimOptions options = SimOptions.Parse(["--replicas", "3", "--port", basePort.ToString(CultureInfo.InvariantCulture), "--time-scale", "0.05"], out _)!;
            SimFleet fleet = SimFleet.Create(options);
            try
            {
                await fleet.StartAsync();
            }
            catch (IOException)
            {
                await fleet.DisposeAsync();
                continue;   // someone holds a port of the range; try another
            }
            await using (fleet)
            {
                Assert.Equal([basePort, basePort + 1, basePort + 2], fleet.Replicas.Select(r => r.Port).ToArray());
                using var client = new HttpClient();
                using HttpResponseMessage resp = await client.GetAsync($"http://127.0.0.1:{basePort + 2}/health");
                Assert.Equal("2", resp.Headers.GetValues("x-sim-replica").Single());
            }
            return;
        }
        Assert.Fail("no free port range found");
    }
}
