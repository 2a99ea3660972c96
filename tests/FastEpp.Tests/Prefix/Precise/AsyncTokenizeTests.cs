using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Envoy.Service.ExtProc.V3;
using FastEpp.Prefix.Precise;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Producers;
using FastEpp.Tests.Common;
using FastEpp.Tests.ExtProc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NetMQ.Sockets;

namespace FastEpp.Tests.Prefix.Precise;

[CollectionDefinition(nameof(AsyncTokenizeTests), DisableParallelization = true)]
public sealed class AsyncTokenizeCollection;

/// <summary>
/// The render call is awaited before the synchronous scheduling cycle (IAsyncPreparer), not made on a blocked thread:
/// a render server that holds every call until released sees all N requests' calls outstanding at once while the
/// process has fewer than N thread-pool threads — impossible if each call blocked a thread. Then all N are routed
/// with precise data. (Alone in its collection so other tests do not inflate the thread count.)
/// </summary>
[Collection(nameof(AsyncTokenizeTests))]
public sealed class AsyncTokenizeTests
{
    private const int Requests = 64;

    [Fact]
    public async Task SlowRenderCalls_DoNotHoldThreads_AllRequestsWaitConcurrently_ThenRouteWithPreciseData()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int pending = 0, maxPending = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(o => o.Listen(IPAddress.Loopback, 0));
        await using var app = builder.Build();
        app.Run(async ctx =>
        {
            if (ctx.Request.Path == "/metrics")
            {
                await ctx.Response.WriteAsync("# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 0\n");
                return;
            }
            using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
            int now = Interlocked.Increment(ref pending);
            int seen;
            while ((seen = Volatile.Read(ref maxPending)) < now && Interlocked.CompareExchange(ref maxPending, now, seen) != seen)
            {
            }
            await gate.Task;
            Interlocked.Decrement(ref pending);
            byte[] prompt = Encoding.UTF8.GetBytes(doc.RootElement.GetProperty("prompt").GetString()!);
            ctx.Response.ContentType = "application/json";
            await ctx.Response.WriteAsync("[{\"request_id\":\"r\",\"token_ids\":[" + string.Join(',', prompt.Select(b => (int)b)) + "]}]");
        });
        await app.StartAsync();
        int port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        using var pub = new PublisherSocket();
        int kvPort = pub.BindRandomPort("tcp://127.0.0.1");
        string config = $$"""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: precise-prefix-cache-producer
              parameters:
                kvEventsConfig:
                  podDiscoveryConfig: {socketPort: {{kvPort}} }
                tokenizeTimeout: 60s
            - type: prefix-cache-scorer
              parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
            - type: max-score-picker
            schedulingProfiles:
            - name: default
              plugins:
              - {pluginRef: prefix-cache-scorer, weight: 1}
            """;
        await using var epp = await EppServer.StartAsync($"127.0.0.1:{port}", "--config-text", config);
        var producer = ((ConfiguredScheduler)epp.Host.Scheduler!).Config!.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
        int id = epp.Endpoints.Endpoints.Single().State.Id;
        await Wait.UntilAsync(() => producer.Subscriptions.HasStream(id), "the KV-event stream is up");

        var routed = new Task<string>[Requests];
        for (int i = 0; i < Requests; i++)
            routed[i] = Route(epp, $"Request {i}: a prompt long enough for a couple of sixteen-token blocks.");
        try
        {
            await Wait.UntilAsync(() => Volatile.Read(ref pending) == Requests, $"all {Requests} render calls outstanding at once", TimeSpan.FromSeconds(60));
            int threads = ThreadPool.ThreadCount;
            Assert.True(threads < Requests, $"{Requests} render calls outstanding with {threads} thread-pool threads: calls hold threads");
            Assert.All(routed, t => Assert.False(t.IsCompleted)); // each request waits for its tokens
        }
        finally
        {
            gate.SetResult();
        }
        string[] destinations = await Task.WhenAll(routed);
        Assert.All(destinations, d => Assert.Equal($"127.0.0.1:{port}", d));
        Assert.Equal(Requests, producer.Counters[PreciseEvent.Tokenized]);
        Assert.Equal(0, producer.Counters[PreciseEvent.TokenizeFallback]);
        Assert.Equal(Requests, maxPending);
    }

    private static async Task<string> Route(EppServer epp, string prompt)
    {
        await Task.Yield();
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
}
