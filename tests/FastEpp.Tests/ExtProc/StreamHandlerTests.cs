using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Scheduling;
using Google.Protobuf;

namespace FastEpp.Tests.ExtProc;

/// <summary>The state machine in process: what it records (usage, in-flight) rather than what it sends.</summary>
public sealed class StreamHandlerTests
{
    private static (StreamHandler Handler, Endpoint Endpoint) Create()
    {
        var registry = new EndpointRegistry();
        var endpoint = new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000);
        registry.Publish([endpoint]);
        return (new StreamHandler(new RequestServices { Registry = registry, Scheduler = new RandomScheduler() }), registry.Current.Endpoints[0]);
    }

    private static ProcessingRequest Headers(params (string, string)[] h) =>
        new() { RequestHeaders = new HttpHeaders { Headers = EnvoyStream.Headers(h) } };

    private static ProcessingRequest Body(string text, bool eos, bool response = false)
    {
        var b = new HttpBody { Body = ByteString.CopyFromUtf8(text), EndOfStream = eos };
        return response ? new ProcessingRequest { ResponseBody = b } : new ProcessingRequest { RequestBody = b };
    }

    private static void Run(StreamHandler h, List<ProcessingResponse> outbox, ProcessingRequest m) =>
        Assert.Equal(StreamHandler.Outcome.Continue, h.Handle(m, outbox, out _));

    [Fact]
    public void ResponseTrailersWithoutEndOfStream_FinishBufferedBody_LastPieceNotEndOfStream()
    {
        var (h, _) = Create();
        var outbox = new List<ProcessingResponse>();
        Run(h, outbox, Headers((":path", "/v1/completions")));
        Run(h, outbox, Body("{\"model\":\"m\",\"prompt\":\"hi\"}", true));
        Run(h, outbox, new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200")) } });
        Run(h, outbox, Body("{\"a\":1}", false, response: true));
        outbox.Clear();
        Run(h, outbox, new ProcessingRequest { ResponseTrailers = new HttpTrailers() });
        Assert.Equal(2, outbox.Count);
        Assert.Equal("{\"a\":1}", outbox[0].ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToStringUtf8());
        Assert.False(outbox[0].ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream);
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseTrailers, outbox[1].ResponseCase);
    }

    [Fact]
    public void Reset_AfterAbandonedRequest_ReleasesInFlight_AndHandlerIsReusable()
    {
        var (h, endpoint) = Create();
        var outbox = new List<ProcessingResponse>();
        Run(h, outbox, Headers((":path", "/v1/completions")));
        Run(h, outbox, Body("{\"model\":\"m\",\"prompt\":\"hi\"}", true));
        Assert.Equal(1, endpoint.State.InFlight);
        h.Reset(); // stream gone before the response
        Assert.Equal(0, endpoint.State.InFlight);
        outbox.Clear();
        Run(h, outbox, Headers((":path", "/v1/completions")));
        Run(h, outbox, Body("{\"model\":\"m2\",\"prompt\":\"again\"}", true));
        Assert.Equal(Encoding.UTF8.GetBytes("{\"model\":\"m2\",\"prompt\":\"again\"}"), outbox[1].RequestBody.Response.BodyMutation.StreamedResponse.Body.ToByteArray());
    }
}
