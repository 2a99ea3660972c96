using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.Tests.ExtProc;

namespace FastEpp.Tests.Admission;

/// <summary>featureGates: [flowControl] over real gRPC: requests wait while the pool is saturated and leave the queue as the spec says.</summary>
public sealed class FlowControlEndToEndTests
{
    // One endpoint that takes one request at a time (concurrency-detector, maxConcurrency 1).
    private static string Config(string flowControl = "") => $"""
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        featureGates: [flowControl]
        saturationDetector:
          pluginRef: concurrency-detector
        plugins:
        - type: concurrency-detector
          parameters:
            maxConcurrency: 1
        - type: queue-scorer
        schedulingProfiles:
        - name: default
          plugins:
          - pluginRef: queue-scorer
        {flowControl}
        """;

    private static async Task<EnvoyStream> SendRequest(EppServer epp, string prompt)
    {
        var stream = epp.Open();
        await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        await stream.SendRequestBody(Encoding.UTF8.GetBytes($$"""{"model":"m","prompt":"{{prompt}}"}"""), 1000);
        return stream;
    }

    private static FastEpp.Admission.FlowController Queue(EppServer epp) => epp.Host.Runtime.Admission.FlowControl!;

    /// <summary>A positive signal instead of a sleep: the EPP's queue holds <paramref name="count"/> requests.</summary>
    private static Task QueuedRequests(EppServer epp, long count) =>
        Wait.UntilAsync(() => Queue(epp).QueuedRequests == count, $"{count} queued requests");

    private static async Task FinishResponse(EnvoyStream stream)
    {
        await stream.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200")) } });
        await stream.Next();
        await stream.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = Google.Protobuf.ByteString.CopyFromUtf8("{}"), EndOfStream = true } });
        await stream.Next();
    }

    [Fact]
    public async Task SecondRequest_WaitsForTheFirstToComplete()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--config-text", Config());
        using var first = await SendRequest(epp, "one");
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, (await first.Next()).ResponseCase);
        await first.ReadRequestBody();

        using var second = await SendRequest(epp, "two");
        var pending = second.Next();
        // Proof the wait is real: the request is queued and the dispatcher has since looked at it three times.
        await QueuedRequests(epp, 1);
        long cycles = Queue(epp).Cycles;
        await Wait.UntilAsync(() => Queue(epp).Cycles >= cycles + 3, "three dispatch cycles with the request queued");
        Assert.Equal(1, Queue(epp).QueuedRequests);
        Assert.False(pending.IsCompleted, "the second request must wait while the endpoint is busy");
        Assert.Contains("inference_extension_flow_control_queue_size{fairness_id=\"default-flow\",inference_pool=\"\",model_name=\"m\",priority=\"0\",target_model_name=\"m\"} 1",
            epp.Host.RenderMetrics());

        await FinishResponse(first); // in-flight drops to 0: the queue moves
        var reply = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, reply.ResponseCase);
        Assert.Equal("10.0.0.1:8000", EnvoyStream.SetHeaders(reply.RequestHeaders.Response)["x-gateway-destination-endpoint"]);
        await second.ReadRequestBody();
        string metrics = epp.Host.RenderMetrics();
        Assert.Contains("outcome=\"Dispatched\"", metrics);
        Assert.Contains("inference_extension_flow_control_pool_saturation{inference_pool=\"\"}", metrics);
        Assert.Contains("inference_extension_flow_control_request_enqueue_duration_seconds_count{fairness_id=\"default-flow\",outcome=\"NotYetFinalized\",priority=\"0\"} 2", metrics);
        Assert.Contains("inference_extension_flow_control_dispatch_cycle_duration_seconds_count", metrics);
    }

    [Fact]
    public async Task QueuedTooLong_Answers503_AndAFullQueue429()
    {
        // The TTL must outlast the round trip of the over-capacity request that follows (it fails under load at 300 ms);
        // the host runs on the system clock, so the 503 half of the test takes this long.
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--config-text", Config("""
            flowControl:
              defaultRequestTTL: 2s
              maxRequests: 1
            """));
        using var busy = await SendRequest(epp, "busy");
        await busy.Next();
        await busy.ReadRequestBody();

        using var late = await SendRequest(epp, "late");
        await QueuedRequests(epp, 1); // the queue is full before the next request arrives
        using var rejected = await SendRequest(epp, "over capacity");
        var full = await rejected.Next();
        Assert.Equal(429, (int)full.ImmediateResponse.Status.Code);
        Assert.Equal("inference error: ResourceExhausted - request rejected pre-queue: queue at capacity", full.ImmediateResponse.Body.ToStringUtf8());

        var timedOut = await late.Next();
        Assert.Equal(503, (int)timedOut.ImmediateResponse.Status.Code);
        Assert.Equal("inference error: ServiceUnavailable - request timed out in queue: request evicted from queue: request TTL expired",
            timedOut.ImmediateResponse.Body.ToStringUtf8());
    }

    [Fact]
    public async Task Shutdown_EvictsQueuedRequestsWith500()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--config-text", Config());
        using var busy = await SendRequest(epp, "busy");
        await busy.Next();
        await busy.ReadRequestBody();
        using var queued = await SendRequest(epp, "queued");
        var pending = queued.Next();
        await QueuedRequests(epp, 1);
        var stopping = epp.Host.StopAsync();
        var reply = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(500, (int)reply.ImmediateResponse.Status.Code);
        Assert.StartsWith("inference error: Internal - internal flow control error", reply.ImmediateResponse.Body.ToStringUtf8());
        busy.Dispose();
        await stopping;
    }

    [Fact]
    public async Task ClientLeavingTheQueue_IsEvicted()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--config-text", Config());
        using var busy = await SendRequest(epp, "busy");
        await busy.Next();
        await busy.ReadRequestBody();
        var gone = await SendRequest(epp, "gone");
        await QueuedRequests(epp, 1);
        gone.Dispose(); // Envoy resets the stream
        await Wait.UntilAsync(() => epp.Host.RenderMetrics().Contains("EvictedContextCancelled", StringComparison.Ordinal), "the eviction metric");
        Assert.Contains("outcome=\"EvictedContextCancelled\"", epp.Host.RenderMetrics());
    }
}
