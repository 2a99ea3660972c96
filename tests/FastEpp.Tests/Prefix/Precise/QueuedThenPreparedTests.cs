using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Envoy.Service.ExtProc.V3;
using FastEpp.Prefix.Precise;
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
/// The two asynchronous steps of the request path in sequence, over real gRPC: a request that waits in flow control
/// (the pool saturated: concurrency-detector, 2 endpoints × 1) and is then prepared (the precise producer's render call,
/// <see cref="IAsyncPreparer"/>) and scheduled — <c>RequestDirector</c> Queued → <c>Resume</c> → Preparing →
/// <c>StreamHandler</c> AwaitAdmission → AwaitPreparation → <c>ExtProcService</c>. It must render exactly once, only after
/// it left the queue, and route with the precise data (to the endpoint whose engine stored its blocks), not be lost.
/// </summary>
public sealed class QueuedThenPreparedTests
{
    private const string Target = "Queued then prepared: this prompt's first sixty-four bytes are held by the second engine only, the rest is not.";

    private static async Task<(WebApplication App, int Port)> ModelServerAsync(ConcurrentDictionary<string, int> renders)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, 0));
        WebApplication app = builder.Build();
        app.Run(async ctx =>
        {
            if (ctx.Request.Path == "/metrics")
            {
                await ctx.Response.WriteAsync("# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 0\n");
                return;
            }
            // The render route: token ids = the prompt's bytes.
            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
            string prompt = doc.RootElement.GetProperty("prompt").GetString()!;
            renders.AddOrUpdate(prompt, 1, (_, n) => n + 1);
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync("[{\"request_id\":\"r\",\"token_ids\":[" + string.Join(',', Encoding.UTF8.GetBytes(prompt).Select(b => (int)b)) + "]}]");
        });
        await app.StartAsync();
        return (app, new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port);
    }

    private static async Task<EnvoyStream> Send(EppServer epp, string prompt)
    {
        var stream = epp.Open();
        await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        byte[] body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Dictionary<string, object> { ["model"] = "m", ["prompt"] = prompt, ["max_tokens"] = 4 }));
        await stream.SendRequestBody(body, 8192);
        return stream;
    }

    private static async Task<string> Destination(EnvoyStream stream, Task<ProcessingResponse>? pending = null)
    {
        ProcessingResponse headers = await (pending ?? stream.Next());
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        await stream.ReadRequestBody();
        return EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"];
    }

    private static async Task Finish(EnvoyStream stream)
    {
        await stream.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200")) } });
        await stream.Next();
        await stream.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = Google.Protobuf.ByteString.CopyFromUtf8("{}"), EndOfStream = true } });
        await stream.Next();
    }

    [Fact]
    public async Task QueuedRequest_IsPreparedOnceAfterLeavingTheQueue_AndRoutedWithPreciseData()
    {
        var renders = new ConcurrentDictionary<string, int>();
        var (appA, portA) = await ModelServerAsync(renders);
        var (appB, portB) = await ModelServerAsync(renders);
        await using var _a = appA;
        await using var _b = appB;
        int sink = PreciseWithSimulatorTests.FreeConsecutivePorts(1);
        string config = $$"""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            featureGates: [flowControl]
            saturationDetector:
              pluginRef: concurrency-detector
            plugins:
            - type: concurrency-detector
              parameters: {maxConcurrency: 1}
            - type: precise-prefix-cache-producer
              parameters:
                kvEventsConfig: {zmqEndpoint: "tcp://127.0.0.1:{{sink}}", discoverPods: false}
                tokenizeTimeout: 10s
            - type: prefix-cache-scorer
              parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
            - type: max-score-picker
            schedulingProfiles:
            - name: default
              plugins:
              - {pluginRef: prefix-cache-scorer, weight: 1}
            """;
        await using var epp = await EppServer.StartAsync($"127.0.0.1:{portA},127.0.0.1:{portB}", "--config-text", config);
        var producer = ((ConfiguredScheduler)epp.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
        var queue = epp.Host.Runtime.Admission.FlowControl!;
        int idA = epp.Endpoints.Endpoints.Single(e => e.Port == portA).State.Id;
        int idB = epp.Endpoints.Endpoints.Single(e => e.Port == portB).State.Id;

        // Both engines publish to the EPP's central SUB; engine B stored the target prompt's first 4 blocks.
        using var pubA = new PublisherSocket();
        using var pubB = new PublisherSocket();
        pubA.Connect($"tcp://127.0.0.1:{sink}");
        pubB.Connect($"tcp://127.0.0.1:{sink}");
        byte[] empty = new MsgPackTestWriter().Batch(0).EndBatch().ToArray();
        ulong seqA = 0, seqB = 0;
        await Wait.UntilAsync(() =>
        {
            if (producer.Subscriptions.TryGetLastSeq(idA, out _) && producer.Subscriptions.TryGetLastSeq(idB, out _))
                return true;
            pubA.SendMoreFrame($"kv@127.0.0.1:{portA}@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(seqA++)).SendFrame(empty);
            pubB.SendMoreFrame($"kv@127.0.0.1:{portB}@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(seqB++)).SendFrame(empty);
            return false;
        }, "both engines' events reach the EPP");
        uint[] held = Encoding.UTF8.GetBytes(Target)[..64].Select(b => (uint)b).ToArray();
        long keys = producer.Index.KeyCount;
        pubB.SendMoreFrame($"kv@127.0.0.1:{portB}@m").SendMoreFrame(MsgPackTestWriter.SeqFrame(seqB++))
            .SendFrame(new MsgPackTestWriter().Batch(1).BlockStored([1, 2, 3, 4], null, held, 16).EndBatch().ToArray());
        await Wait.UntilAsync(() => producer.Index.KeyCount >= keys + 4, "engine B's blocks are indexed");

        // Saturate the pool: two requests in flight, capacity 1 each.
        using var busy1 = await Send(epp, "Filler one: occupies an endpoint until its response ends.");
        await Destination(busy1);
        using var busy2 = await Send(epp, "Filler two: occupies the other capacity slot.");
        await Destination(busy2);

        using var target = await Send(epp, Target);
        Task<ProcessingResponse> pending = target.Next();
        await Wait.UntilAsync(() => queue.QueuedRequests == 1, "the target request waits in the flow-control queue");
        long cycles = queue.Cycles;
        await Wait.UntilAsync(() => queue.Cycles >= cycles + 3, "three dispatch cycles with the request queued");
        Assert.False(pending.IsCompleted, "the request must wait while the pool is saturated");
        Assert.False(renders.ContainsKey(Target), "no render call while queued: preparation comes after admission");

        await Finish(busy1); // capacity frees: the request leaves the queue, is rendered, then scheduled
        Assert.Equal($"127.0.0.1:{portB}", await Destination(target, pending));
        Assert.Equal(1, renders[Target]);
        Assert.Equal(0, queue.QueuedRequests);
        Assert.Equal(0, producer.Counters[PreciseEvent.TokenizeFallback]);
        Assert.Equal(0, producer.Counters[PreciseEvent.NoStreamFallback]);
        Assert.Equal(3, producer.Counters[PreciseEvent.Tokenized]); // two fillers and the target, each once

        await Finish(busy2);
        await Finish(target);
        Assert.Equal(1, renders[Target]);
    }
}
