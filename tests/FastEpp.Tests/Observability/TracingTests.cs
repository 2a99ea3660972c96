using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Observability;
using FastEpp.Scheduling;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.Observability;

/// <summary>
/// ActivitySource listeners are process-wide: another test's tracer provider (another sampling ratio) would vote on
/// these spans, so this class runs alone.
/// </summary>
[CollectionDefinition(nameof(TracingTests), DisableParallelization = true)]
public sealed class TracingCollection;

/// <summary>Tracing as the reference: a root span per stream, its traceparent in the header mutation, sampled at a ratio.</summary>
[Collection(nameof(TracingTests))]
public sealed class TracingTests
{
    private static readonly Regex s_traceParent = new("^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$");

    private static async Task<string?> TraceParentOverGrpc(EppServer epp, params (string, string)[] extraHeaders)
    {
        using var stream = epp.Open();
        await stream.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions", extraHeaders));
        await stream.SendRequestBody("{\"model\":\"m\",\"prompt\":\"hi\"}"u8.ToArray(), 100);
        var headers = await stream.Next();
        await stream.ReadRequestBody();
        await stream.Complete();
        // The first traceparent is the EPP's (spec §2.4.1 item 3); a client's own traceparent follows in the echo (item 4).
        return headers.RequestHeaders.Response.HeaderMutation.SetHeaders
            .Where(h => h.Header.Key == "traceparent").Select(h => h.Header.RawValue.ToStringUtf8()).FirstOrDefault();
    }

    [Fact]
    public async Task TracingOnByDefault_EachStreamGetsItsOwnRootTraceparent()
    {
        await using var epp = await EppServer.StartAsync();
        string clientTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        string? a = await TraceParentOverGrpc(epp, ("traceparent", clientTrace));
        string? b = await TraceParentOverGrpc(epp);
        Match ma = s_traceParent.Match(a ?? ""), mb = s_traceParent.Match(b ?? "");
        Assert.True(ma.Success, a);
        Assert.True(mb.Success, b);
        Assert.NotEqual(ma.Groups[1].Value, mb.Groups[1].Value);
        // Never linked to the client's trace (the reference does not extract incoming context).
        Assert.NotEqual("0af7651916cd43dd8448eb211c80319c", ma.Groups[1].Value);
    }

    [Fact]
    public async Task TracingOff_NoTraceparent()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--tracing=false");
        Assert.Null(await TraceParentOverGrpc(epp));
    }

    private static (StreamHandler Handler, EppTracing Tracing) Handler(string ratio)
    {
        var registry = new EndpointRegistry();
        registry.Publish([new Endpoint("ns/p0-rank-0", "p0", "10.0.0.1", 8000, 8000)]);
        var tracing = EppTracing.Create(NullLogger.Instance, name => name == "OTEL_TRACES_SAMPLER_ARG" ? ratio : null);
        return (new StreamHandler(new RequestServices { Registry = registry, Scheduler = new RandomScheduler(), Tracing = tracing }), tracing);
    }

    private static string Route(StreamHandler h)
    {
        var outbox = new List<ProcessingResponse>();
        h.Handle(new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":path", "/v1/completions")) } }, outbox, out _);
        h.Handle(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFromUtf8("{\"model\":\"m\",\"prompt\":\"x\"}"), EndOfStream = true } }, outbox, out _);
        string traceParent = EnvoyStream.SetHeaders(outbox[0].RequestHeaders.Response)["traceparent"];
        h.Reset(); // stream end: the root span ends
        return traceParent;
    }

    [Fact]
    public void SampledStream_RecordsRootAndOrchestrationSpans_WithTheReferenceNamesAndTags()
    {
        var stopped = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is EppTracing.RequestSourceName or EppTracing.OrchestrationSourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.None, // observe, do not vote
            ActivityStopped = a => { lock (stopped) stopped.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);
        var (h, tracing) = Handler("1");
        using (tracing)
        {
            string traceParent = Route(h);
            var m = s_traceParent.Match(traceParent);
            Assert.True(m.Success, traceParent);
            Assert.Equal("01", m.Groups[3].Value);

            Activity root, orchestration;
            lock (stopped)
            {
                root = stopped.Single(a => a.OperationName == "gateway.request" && a.TraceId.ToHexString() == m.Groups[1].Value);
                orchestration = stopped.Single(a => a.OperationName == "gateway.request_orchestration" && a.TraceId == root.TraceId);
            }
            Assert.Equal(ActivityKind.Server, root.Kind);
            Assert.Equal(m.Groups[2].Value, root.SpanId.ToHexString());
            Assert.Equal(default, root.ParentSpanId);
            Assert.Equal("unknown", root.GetTagItem("commit-sha"));
            Assert.Equal(root.SpanId, orchestration.ParentSpanId);
            Assert.Equal("m", orchestration.GetTagItem("target_model"));
            Assert.Equal(0, orchestration.GetTagItem("request_prio"));
            Assert.Null(Activity.Current); // nothing leaks into the ambient context
        }
    }

    [Fact]
    public void UnsampledStream_StillCarriesValidIds_WithFlags00()
    {
        var (h, tracing) = Handler("0");
        using (tracing)
        {
            var ids = new HashSet<string>();
            for (int i = 0; i < 5; i++)
            {
                var m = s_traceParent.Match(Route(h));
                Assert.True(m.Success);
                Assert.Equal("00", m.Groups[3].Value);
                ids.Add(m.Groups[1].Value);
            }
            Assert.Equal(5, ids.Count);
        }
    }

    [Fact]
    public void Environment_SelectsExporterAndRatio()
    {
        using var console = EppTracing.Create(NullLogger.Instance, n => n switch { "OTEL_TRACES_EXPORTER" => "console", "OTEL_TRACES_SAMPLER_ARG" => "0.25", _ => null });
        Assert.Equal(("console", 0.25), (console.Exporter, console.SamplingRatio));
        using var otlp = EppTracing.Create(NullLogger.Instance, n => n switch { "OTEL_TRACES_EXPORTER" => "otlp", "OTEL_TRACES_SAMPLER_ARG" => "bogus", _ => null });
        Assert.Equal(("otlp", 0.1), (otlp.Exporter, otlp.SamplingRatio));
        using var other = EppTracing.Create(NullLogger.Instance, n => n == "OTEL_TRACES_SAMPLER" ? "always_on" : null);
        Assert.Equal(("none", 0.1), (other.Exporter, other.SamplingRatio));
    }
}
