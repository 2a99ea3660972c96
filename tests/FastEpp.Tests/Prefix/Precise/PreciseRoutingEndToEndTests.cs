using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Envoy.Service.ExtProc.V3;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using FastEpp.Tests.ExtProc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Sockets;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// The whole precise path as deployed: the EPP from flags with a precise config, three model-server stand-ins on
/// their own loopback addresses (127.0.0.2–4) serving /metrics and vLLM's /v1/completions/render, a real ZeroMQ PUB
/// per endpoint at &lt;address&gt;:&lt;socketPort&gt; publishing vLLM-encoded KV events, and requests over real ext_proc gRPC.
/// The request must go to the endpoint whose engine reported holding its blocks.
/// </summary>
public sealed class PreciseRoutingEndToEndTests
{
    private const int BlockSize = 16;

    /// <summary>A model server stand-in: equal load metrics, and a render route whose tokens are the prompt's UTF-8 bytes.</summary>
    private sealed class ModelServers : IAsyncDisposable
    {
        private readonly WebApplication _app;
        public readonly List<(string Address, int Port)> Endpoints = [];
        public int RenderCalls;
        /// <summary>An older vLLM: no render routes, only /tokenize.</summary>
        public bool RenderMissing;
        public readonly ConcurrentDictionary<string, int> RenderCallsByAddress = new();

        private ModelServers(WebApplication app) => _app = app;

        public static async Task<ModelServers> StartAsync(string[] addresses)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(o =>
            {
                foreach (string a in addresses)
                    o.Listen(IPAddress.Parse(a), 0);
            });
            var app = builder.Build();
            var servers = new ModelServers(app);
            app.Run(servers.HandleAsync);
            await app.StartAsync();
            foreach (string address in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
            {
                var uri = new Uri(address);
                servers.Endpoints.Add((uri.Host, uri.Port));
            }
            servers.Endpoints.Sort((a, b) => string.CompareOrdinal(a.Address, b.Address));
            return servers;
        }

        private async Task HandleAsync(HttpContext ctx)
        {
            if (ctx.Request.Path == "/metrics")
            {
                await ctx.Response.WriteAsync("""
                    # TYPE vllm:num_requests_waiting gauge
                    vllm:num_requests_waiting{model_name="m"} 0
                    # TYPE vllm:num_requests_running gauge
                    vllm:num_requests_running{model_name="m"} 0
                    # TYPE vllm:kv_cache_usage_perc gauge
                    vllm:kv_cache_usage_perc{model_name="m"} 0.1

                    """);
                return;
            }
            if (ctx.Request.Path == (RenderMissing ? "/tokenize" : "/v1/completions/render") && ctx.Request.Method == "POST")
            {
                Interlocked.Increment(ref RenderCalls);
                RenderCallsByAddress.AddOrUpdate(ctx.Connection.LocalIpAddress!.ToString(), 1, static (_, n) => n + 1);
                using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
                Assert.Equal("m", doc.RootElement.GetProperty("model").GetString());
                byte[] prompt = Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("prompt").GetString()!);
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync(RenderMissing
                    ? "{\"count\":" + prompt.Length + ",\"max_model_len\":8192,\"tokens\":[" + string.Join(',', prompt) + "]}"
                    : "[{\"request_id\":\"r\",\"token_ids\":[" + string.Join(',', prompt) + "],\"features\":null}]");
                return;
            }
            ctx.Response.StatusCode = 404;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private static int FreePortOnAll(string[] addresses)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            using var probe = new Socket(SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Parse(addresses[0]), 0));
            int port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            bool free = true;
            foreach (string a in addresses.Skip(1))
            {
                try
                {
                    using var other = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    other.Bind(new IPEndPoint(IPAddress.Parse(a), port));
                }
                catch (SocketException)
                {
                    free = false;
                }
            }
            if (free)
                return port;
        }
        throw new InvalidOperationException("no port free on every address");
    }

    private static uint[] Tokens(string prompt) => Encoding.UTF8.GetBytes(prompt).Select(b => (uint)b).ToArray();

    private static byte[] StoredBatch(uint[] tokens, ulong firstEngineHash)
    {
        int blocks = tokens.Length / BlockSize;
        ulong[] hashes = Enumerable.Range(0, blocks).Select(i => firstEngineHash + (ulong)i).ToArray();
        return new MsgPackTestWriter().Batch(1).BlockStored(hashes, null, tokens[..(blocks * BlockSize)], BlockSize).EndBatch().ToArray();
    }

    private static async Task<string> Route(EppServer epp, string prompt)
    {
        using var stream = epp.Open();
        await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        byte[] body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object> { ["model"] = "m", ["prompt"] = prompt, ["max_tokens"] = 4 }));
        await stream.SendRequestBody(body, 8192);
        var headers = await stream.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        await stream.ReadRequestBody();
        await stream.Complete();
        return EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"];
    }

    [Theory]
    [InlineData(false)] // tokens rendered by the candidate endpoint itself
    [InlineData(true)]  // tokens from llm-d's token-producer: a fixed render server (here: the first stand-in)
    [InlineData(false, true)] // servers without the render routes: /tokenize
    public async Task RequestsGoToTheEndpointWhoseEngineReportedTheirBlocks_AndFollowAllBlocksCleared(bool tokenProducer, bool renderMissing = false)
    {
        string[] addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
        await using var servers = await ModelServers.StartAsync(addresses);
        servers.RenderMissing = renderMissing;
        int kvPort = FreePortOnAll(addresses);
        var pubs = new PublisherSocket[3];
        try
        {
            for (int i = 0; i < 3; i++)
            {
                pubs[i] = new PublisherSocket();
                pubs[i].Bind($"tcp://{addresses[i]}:{kvPort}");
            }
            string tokenPlugin = !tokenProducer ? "" :
                "- {type: token-producer, parameters: {modelName: m, vllm: {url: \"http://" + servers.Endpoints[0].Address + ":" +
                servers.Endpoints[0].Port.ToString(CultureInfo.InvariantCulture) + "\", timeout: 5s}}}";
            string config = $$"""
                apiVersion: inference.networking.x-k8s.io/v1alpha1
                kind: EndpointPickerConfig
                plugins:
                - type: precise-prefix-cache-producer
                  parameters:
                    tokenProcessorConfig:
                      blockSizeTokens: {{BlockSize}}
                    speculativeIndexing: true
                    kvEventsConfig:
                      topicFilter: "kv@"
                      concurrency: 2
                      podDiscoveryConfig:
                        socketPort: {{kvPort}}
                - type: prefix-cache-scorer
                  parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
                {{tokenPlugin}}
                - type: queue-scorer
                - type: max-score-picker
                schedulingProfiles:
                - name: default
                  plugins:
                  - {pluginRef: prefix-cache-scorer, weight: 3}
                  - {pluginRef: queue-scorer, weight: 1}
                """;
            string endpoints = string.Join(',', servers.Endpoints.Select(e => $"{e.Address}:{e.Port}"));
            await using var epp = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
            var producer = ((ConfiguredScheduler)epp.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
            var ids = servers.Endpoints.Select(e => epp.Endpoints.Endpoints.Single(x => x.Port == e.Port).State.Id).ToArray();
            string HostPort(int i) => $"{servers.Endpoints[i].Address}:{servers.Endpoints[i].Port}";
            string Topic(int i) => $"kv@{HostPort(i)}@m";

            await Wait.UntilAsync(() => ids.All(producer.Subscriptions.HasStream), "every endpoint's KV-event stream is up");
            // The PUB drops messages until the subscription reached it: send empty batches until each endpoint saw one.
            var seqs = new ulong[3];
            for (int i = 0; i < 3; i++)
            {
                int e = i;
                byte[] empty = new MsgPackTestWriter().Batch(0).EndBatch().ToArray();
                await Wait.UntilAsync(() =>
                {
                    if (producer.Subscriptions.TryGetLastSeq(ids[e], out _))
                        return true;
                    pubs[e].SendMoreFrame(Topic(e)).SendMoreFrame(MsgPackTestWriter.SeqFrame(seqs[e]++)).SendFrame(empty);
                    return false;
                }, $"endpoint {e} applied a batch");
                Assert.True(producer.Subscriptions.TryGetLastSeq(ids[e], out ulong last));
                seqs[e] = last + 1;
            }

            string systemA = string.Concat(Enumerable.Repeat("You are the first assistant; answer briefly and kindly. ", 6));
            string systemB = string.Concat(Enumerable.Repeat("Second system prompt: be terse, cite sources, no chatter. ", 6));
            // Endpoint 2's engine holds system prompt A, endpoint 0's holds B.
            pubs[2].SendMoreFrame(Topic(2)).SendMoreFrame(MsgPackTestWriter.SeqFrame(seqs[2]++)).SendFrame(StoredBatch(Tokens(systemA), 1000));
            pubs[0].SendMoreFrame(Topic(0)).SendMoreFrame(MsgPackTestWriter.SeqFrame(seqs[0]++)).SendFrame(StoredBatch(Tokens(systemB), 5000));
            int blocksA = Tokens(systemA).Length / BlockSize;
            await Wait.UntilAsync(() => producer.Index.KeyCount >= blocksA + Tokens(systemB).Length / BlockSize, "the stored blocks are indexed");

            for (int q = 0; q < 3; q++)
            {
                Assert.Equal(HostPort(2), await Route(epp, systemA + "Question " + q));
                Assert.Equal(HostPort(0), await Route(epp, systemB + "Question " + q));
            }
            Assert.True(servers.RenderCalls >= 6);
            if (tokenProducer)
                Assert.Equal(servers.RenderCalls, servers.RenderCallsByAddress[addresses[0]]);
            else
                Assert.Equal(3, servers.RenderCallsByAddress.Count); // rendered at the candidates with a stream, in rotation
            Assert.Equal(0, producer.Counters[FastEpp.Prefix.Precise.PreciseEvent.TokenizeFallback]);

            // The engine of endpoint 2 resets its prefix cache: its entries go, and A's requests no longer stick to it
            // through the precise index (only speculative entries from the requests just routed, which expire).
            pubs[2].SendMoreFrame(Topic(2)).SendMoreFrame(MsgPackTestWriter.SeqFrame(seqs[2]++)).SendFrame(
                new MsgPackTestWriter().Batch(1).AllBlocksCleared().EndBatch().ToArray());
            await Wait.UntilAsync(() => producer.Counters[FastEpp.Prefix.Precise.PreciseEvent.AllBlocksCleared] == 1, "AllBlocksCleared was applied");
            var counts = new int[3];
            var keys = new ulong[blocksA];
            int n = FastEpp.Prefix.Precise.TokenBlockKeys.Chain(
                FastEpp.Prefix.Precise.TokenBlockKeys.ChainStart(FastEpp.Prefix.Precise.TokenBlockKeys.Root(""u8), "m"u8), Tokens(systemA), BlockSize, default, keys);
            producer.Index.Match(keys[..n], ids, counts);
            Assert.Equal([0, 0, 0], counts);

            // Endpoint 0's engine goes away (its publisher closes): the stream disconnects and its entries are cleared,
            // since a restarted engine renumbers and forgets its blocks.
            var keysB = new ulong[Tokens(systemB).Length / BlockSize];
            int nB = FastEpp.Prefix.Precise.TokenBlockKeys.Chain(
                FastEpp.Prefix.Precise.TokenBlockKeys.ChainStart(FastEpp.Prefix.Precise.TokenBlockKeys.Root(""u8), "m"u8), Tokens(systemB), BlockSize, default, keysB);
            producer.Index.Match(keysB[..nB], ids, counts);
            Assert.Equal(nB, counts[0]);
            pubs[0].Dispose();
            pubs[0] = null!;
            await Wait.UntilAsync(() => producer.Counters[FastEpp.Prefix.Precise.PreciseEvent.Disconnects] >= 1, "the disconnect cleared endpoint 0");
            producer.Index.Match(keysB[..nB], ids, counts);
            Assert.Equal(0, counts[0]);
            Assert.False(producer.Subscriptions.HasStream(ids[0]));

            string metrics = epp.Host.RenderMetrics();
            Assert.Contains("fastepp_precise_prefix_total{event=\"tokenized\"}", metrics);
            Assert.Contains("fastepp_precise_prefix_total{event=\"all_blocks_cleared\"} 1", metrics);
        }
        finally
        {
            foreach (var p in pubs)
                p?.Dispose();
        }
    }

    [Fact]
    public async Task EndpointsWithoutAnEventStream_AreScoredFromTheApproximateIndex_CountedAndNeverSilentZeros()
    {
        string[] addresses = ["127.0.0.5", "127.0.0.6", "127.0.0.7"];
        await using var servers = await ModelServers.StartAsync(addresses);
        int kvPort = FreePortOnAll(addresses); // nobody publishes there
        string config = $$"""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: precise-prefix-cache-producer
              parameters:
                kvEventsConfig:
                  podDiscoveryConfig:
                    socketPort: {{kvPort}}
            - type: prefix-cache-scorer
            - type: queue-scorer
            schedulingProfiles:
            - name: default
              plugins:
              - {pluginRef: prefix-cache-scorer, weight: 3}
              - {pluginRef: queue-scorer, weight: 1}
            """;
        string endpoints = string.Join(',', servers.Endpoints.Select(e => $"{e.Address}:{e.Port}"));
        await using var epp = await EppServer.StartAsync(endpoints, "--refresh-metrics-interval", "20ms", "--config-text", config);
        var producer = ((ConfiguredScheduler)epp.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
        string system = string.Concat(Enumerable.Repeat("A long shared system prompt that the approximate index can follow. ", 20));
        string first = await Route(epp, system + "Question 0");
        for (int q = 1; q < 5; q++)
        {
            await Wait.UntilAsync(() => producer.PendingApproxRecords == 0, "the approximate record was applied");
            Assert.Equal(first, await Route(epp, system + "Question " + q));
        }
        Assert.Equal(0, servers.RenderCalls); // no stream anywhere: no tokenization cost either
        Assert.Equal(15, producer.Counters[FastEpp.Prefix.Precise.PreciseEvent.NoStreamFallback]);
        Assert.Contains("fastepp_precise_prefix_total{event=\"no_stream_fallback\"} 15", epp.Host.RenderMetrics());
    }
}
