using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Envoy.Service.ExtProc.V3;
using FastEpp.Prefix.Precise;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;
using FastEpp.Tests.Common;
using FastEpp.Tests.ExtProc;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// The precise path against the REAL simulator: fastepp-sim replicas (in-process SimFleet) publish vLLM KV events on
/// consecutive PUB ports, the EPP subscribes at serving port + <c>kvEventsPortOffset</c>, tokenizes at the replicas'
/// render routes, and routes over real ext_proc gRPC. A replica is warmed directly over HTTP (the EPP never sees that
/// request, so its approximate index knows nothing): the EPP must still send the prompt there, learned from the events.
/// </summary>
public sealed class PreciseWithSimulatorTests
{
    internal const string Model = "meta-llama/Llama-3.1-8B-Instruct";
    private const int Replicas = 3;

    /// <summary>A run of <paramref name="count"/> consecutive loopback ports that are free now (avoiding <paramref name="avoid"/>).</summary>
    internal static int FreeConsecutivePorts(int count, int avoid = -1)
    {
        var random = new Random();
        for (int attempt = 0; attempt < 200; attempt++)
        {
            // Below Linux's ephemeral range (32768–60999): there, outgoing connections of tests running in parallel take
            // source ports, so a port found free could be taken before the simulator binds it.
            int start = random.Next(20000, 32700 - count);
            if (avoid >= 0 && Math.Abs(start - avoid) < 2 * count)
                continue;
            var held = new List<Socket>();
            try
            {
                for (int i = 0; i < count; i++)
                {
                    var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    held.Add(s);
                    s.Bind(new IPEndPoint(IPAddress.Loopback, start + i));
                }
                return start;
            }
            catch (SocketException)
            {
            }
            finally
            {
                foreach (Socket s in held)
                    s.Dispose();
            }
        }
        throw new InvalidOperationException("no run of free ports");
    }

    private static string ChatBody(string system, string question, int maxTokens = 2) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["model"] = Model,
        ["max_tokens"] = maxTokens,
        ["messages"] = new object[]
        {
            new Dictionary<string, string> { ["role"] = "system", ["content"] = system },
            new Dictionary<string, string> { ["role"] = "user", ["content"] = question },
        },
    });

    /// <summary>Serves a chat request at replica <paramref name="port"/> directly (not through the EPP); returns its prompt tokens.</summary>
    internal static async Task<int> Direct(HttpClient http, int port, string system, string question)
    {
        using var content = new StringContent(ChatBody(system, question), Encoding.UTF8, "application/json");
        using HttpResponseMessage r = await http.PostAsync($"http://127.0.0.1:{port}/v1/chat/completions", content);
        string text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, text);
        using JsonDocument doc = JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();
    }

    internal static async Task<string> Route(EppServer epp, string system, string question)
    {
        using var stream = epp.Open();
        await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/chat/completions"));
        await stream.SendRequestBody(Encoding.UTF8.GetBytes(ChatBody(system, question)), 16384);
        var headers = await stream.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        await stream.ReadRequestBody();
        await stream.Complete();
        return EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"];
    }

    internal static string System(string seed) => string.Concat(Enumerable.Range(0, 60).Select(i =>
        $"{seed} rule {i}: answer precisely, cite the relevant section, and keep every reply under {i + 40} words. "));

    [Theory]
    [InlineData("stand-in")]
    [InlineData("o200k_base")]
    public async Task RoutesToTheReplicaWhoseEngineStoredTheBlocks_ClearedByResetAndRestart(string tokenizer)
    {
        int httpPort = FreeConsecutivePorts(Replicas);
        int pubPort = FreeConsecutivePorts(Replicas, avoid: httpPort);
        string kv = "{\"enable_kv_cache_events\":true,\"publisher\":\"zmq\",\"endpoint\":\"tcp://*:" + pubPort.ToString(CultureInfo.InvariantCulture) +
                    "\",\"topic\":\"kv@$(POD_IP):$(POD_PORT)@" + Model + "\"}";
        SimOptions options = SimOptions.Parse(
            ["--replicas", "3", "--port", httpPort.ToString(CultureInfo.InvariantCulture), "--time-scale", "0.02", "--model", Model,
             "--block-size", "16", "--tokenizer", tokenizer, "--kv-events-config", kv], out string? error) ?? throw new InvalidOperationException(error);
        await using SimFleet fleet = SimFleet.Create(options);
        await fleet.StartAsync();

        string config = PreciseConfig($"kvEventsPortOffset: {pubPort - httpPort}");
        string endpoints = string.Join(',', Enumerable.Range(0, Replicas).Select(i => $"127.0.0.1:{httpPort + i}"));
        await using var epp = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
        var producer = ((ConfiguredScheduler)epp.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
        int[] ids = Enumerable.Range(0, Replicas).Select(i => epp.Endpoints.Endpoints.Single(x => x.Port == httpPort + i).State.Id).ToArray();
        string HostPort(int i) => $"127.0.0.1:{httpPort + i}";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        await Wait.UntilAsync(() => ids.All(producer.Subscriptions.HasStream), "every replica's KV-event stream is up");
        // A PUB drops what it sends before the subscription reached it: serve small requests at each replica until
        // the EPP applied one of its batches.
        for (int i = 0; i < Replicas; i++)
        {
            int r = i, round = 0;
            await Wait.UntilAsync(async () =>
            {
                if (producer.Subscriptions.TryGetLastSeq(ids[r], out _))
                    return true;
                await Direct(http, httpPort + r, $"Warm-up {r}.{round++}: a short system prompt of a few blocks, nothing more to it.", "hi");
                return false;
            }, $"replica {r}'s events reach the EPP");
        }

        // 1. Replica 1's engine stores a long system prompt (served directly, the EPP never sees it).
        string systemA = System("alpha");
        long keys = producer.Index.KeyCount;
        // A warm-up batch that reached the EPP may chain to one the PUB sent before the subscription arrived (unknown
        // parent): only what happens from here on is checked.
        long unknownParents = producer.Counters[PreciseEvent.UnknownParent];
        int promptTokens = await Direct(http, httpPort + 1, systemA, "first question");
        Assert.True(promptTokens >= 400, $"prompt of {promptTokens} tokens");
        await Wait.UntilAsync(() => producer.Index.KeyCount >= keys + promptTokens / 16 - 2, "replica 1's BlockStored events are indexed");
        Assert.Equal(0, producer.Counters[PreciseEvent.BlockSizeMismatch]);
        Assert.Equal(unknownParents, producer.Counters[PreciseEvent.UnknownParent]);

        for (int q = 0; q < 3; q++)
            Assert.Equal(HostPort(1), await Route(epp, systemA, "question " + q));
        Assert.Equal(0, producer.Counters[PreciseEvent.TokenizeFallback]);
        Assert.True(producer.Counters[PreciseEvent.Tokenized] >= 3);

        // 2. /reset_prefix_cache at replica 1 → AllBlocksCleared; replica 2 now stores the prompt: the EPP follows.
        long cleared = producer.Counters[PreciseEvent.AllBlocksCleared];
        using (HttpResponseMessage reset = await http.PostAsync($"http://127.0.0.1:{httpPort + 1}/reset_prefix_cache", null))
            Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        await Wait.UntilAsync(() => producer.Counters[PreciseEvent.AllBlocksCleared] > cleared, "AllBlocksCleared from replica 1 applied");
        keys = producer.Index.KeyCount;
        await Direct(http, httpPort + 2, systemA, "second question");
        await Wait.UntilAsync(() => producer.Index.KeyCount >= keys + promptTokens / 16 - 2, "replica 2's BlockStored events are indexed");
        for (int q = 0; q < 3; q++)
            Assert.Equal(HostPort(2), await Route(epp, systemA, "again " + q));

        // 3. Replica 2 restarts (cold engine, new publisher numbering from 0): its entries go; replica 0 stores the prompt.
        long disconnects = producer.Counters[PreciseEvent.Disconnects];
        fleet.Replicas[2].Kill();
        await Wait.UntilAsync(() => producer.Counters[PreciseEvent.Disconnects] > disconnects, "replica 2's stream dropped");
        fleet.Replicas[2].Revive();
        keys = producer.Index.KeyCount;
        await Direct(http, httpPort + 0, systemA, "third question");
        await Wait.UntilAsync(() => producer.Index.KeyCount >= keys + promptTokens / 16 - 2, "replica 0's BlockStored events are indexed");
        await Wait.UntilAsync(() => producer.Subscriptions.HasStream(ids[2]), "replica 2's stream is back");
        for (int q = 0; q < 3; q++)
            Assert.Equal(HostPort(0), await Route(epp, systemA, "once more " + q));
    }

    /// <summary>
    /// llm-d's central mode against the simulator: every replica's PUB CONNECTS to the EPP's bound
    /// <c>kvEventsConfig.zmqEndpoint</c> (vLLM connects when the endpoint has no wildcard), topic
    /// <c>kv@$(POD_IP):$(POD_PORT)@model</c> tells them apart; no per-pod subscriptions (<c>discoverPods: false</c>).
    /// </summary>
    [Fact]
    public async Task CentralZmqEndpoint_EnginesConnectToTheEpp_RoutesToTheReplicaWhoseEngineStoredTheBlocks()
    {
        int httpPort = FreeConsecutivePorts(Replicas);
        int sinkPort = FreeConsecutivePorts(1, avoid: httpPort);
        string kv = "{\"enable_kv_cache_events\":true,\"publisher\":\"zmq\",\"endpoint\":\"tcp://127.0.0.1:" + sinkPort.ToString(CultureInfo.InvariantCulture) +
                    "\",\"topic\":\"kv@$(POD_IP):$(POD_PORT)@" + Model + "\"}";
        SimOptions options = SimOptions.Parse(
            ["--replicas", "3", "--port", httpPort.ToString(CultureInfo.InvariantCulture), "--time-scale", "0.02", "--model", Model,
             "--block-size", "16", "--kv-events-config", kv], out string? error) ?? throw new InvalidOperationException(error);
        await using SimFleet fleet = SimFleet.Create(options);
        await fleet.StartAsync();

        string config = PreciseConfig($"kvEventsConfig: {{zmqEndpoint: \"tcp://127.0.0.1:{sinkPort}\", discoverPods: false}}");
        string endpoints = string.Join(',', Enumerable.Range(0, Replicas).Select(i => $"127.0.0.1:{httpPort + i}"));
        await using var epp = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
        var producer = ((ConfiguredScheduler)epp.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
        Assert.Equal(0, producer.Subscriptions.Count); // no per-pod SUBs
        int[] ids = Enumerable.Range(0, Replicas).Select(i => epp.Endpoints.Endpoints.Single(x => x.Port == httpPort + i).State.Id).ToArray();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

        // The publishers dial with back-off until the EPP listens; then each replica's first applied batch attributes it.
        for (int i = 0; i < Replicas; i++)
        {
            int r = i, round = 0;
            await Wait.UntilAsync(async () =>
            {
                if (producer.Subscriptions.TryGetLastSeq(ids[r], out _))
                    return true;
                await Direct(http, httpPort + r, $"Warm-up {r}.{round++}: a short system prompt of a few blocks, nothing more to it.", "hi");
                return false;
            }, $"replica {r}'s events reach the EPP's bound SUB");
        }
        Assert.True(ids.All(producer.Subscriptions.HasStream));
        Assert.Equal(Replicas, producer.Subscriptions.CentralConnections);

        string systemA = System("central");
        long keys = producer.Index.KeyCount;
        // A warm-up batch that reached the EPP may chain to one the PUB sent before the subscription arrived (unknown
        // parent): only what happens from here on is checked.
        long unknownParents = producer.Counters[PreciseEvent.UnknownParent];
        int promptTokens = await Direct(http, httpPort + 2, systemA, "first question");
        await Wait.UntilAsync(() => producer.Index.KeyCount >= keys + promptTokens / 16 - 2, "replica 2's BlockStored events are indexed");
        for (int q = 0; q < 3; q++)
            Assert.Equal($"127.0.0.1:{httpPort + 2}", await Route(epp, systemA, "question " + q));
        Assert.Equal(0, producer.Counters[PreciseEvent.UnknownPod]);
        Assert.Equal(unknownParents, producer.Counters[PreciseEvent.UnknownParent]);

        // Replica 2 restarts (cold engine, new connection numbering from 0): its entries go when its connection drops;
        // replica 0 stores the prompt, and the EPP follows once replica 2's new connection is attributed again.
        long disconnects = producer.Counters[PreciseEvent.Disconnects];
        fleet.Replicas[2].Kill();
        await Wait.UntilAsync(() => producer.Counters[PreciseEvent.Disconnects] > disconnects && !producer.Subscriptions.HasStream(ids[2]), "replica 2's connection dropped");
        fleet.Replicas[2].Revive();
        keys = producer.Index.KeyCount;
        await Direct(http, httpPort + 0, systemA, "second question");
        await Wait.UntilAsync(() => producer.Index.KeyCount >= keys + promptTokens / 16 - 2, "replica 0's BlockStored events are indexed");
        int round2 = 0;
        await Wait.UntilAsync(async () =>
        {
            if (producer.Subscriptions.HasStream(ids[2]) && producer.Subscriptions.TryGetLastSeq(ids[2], out _))
                return true;
            await Direct(http, httpPort + 2, $"Warm-up again {round2++}: a short system prompt of a few blocks.", "hi");
            return false;
        }, "replica 2's new connection is attributed");
        for (int q = 0; q < 3; q++)
            Assert.Equal($"127.0.0.1:{httpPort}", await Route(epp, systemA, "again " + q));
    }

    // The precise producer (16-token blocks, the given event-source parameter) feeding prefix-cache-scorer ×3 + queue-scorer ×1.
    internal static string PreciseConfig(string eventSource) => $$"""
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - type: precise-prefix-cache-producer
          parameters:
            tokenProcessorConfig: {blockSizeTokens: 16}
            {{eventSource}}
            tokenizeTimeout: 5s
        - type: prefix-cache-scorer
          parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
        - type: queue-scorer
        - type: max-score-picker
        schedulingProfiles:
        - name: default
          plugins:
          - {pluginRef: prefix-cache-scorer, weight: 3}
          - {pluginRef: queue-scorer, weight: 1}
        """;
}
