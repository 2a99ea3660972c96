using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Scheduling;
using Google.Protobuf;
using static FastEpp.Tests.ExtProc.InProcessStream;

namespace FastEpp.Tests.ExtProc;

/// <summary>The state machine in process: what it records (usage, in-flight) rather than what it sends.</summary>
public sealed class StreamHandlerTests
{
    [Fact]
    public void ResponseTrailersWithoutEndOfStream_FinishBufferedBody_LastPieceNotEndOfStream()
    {
        var (h, _) = Create();
        var outbox = new List<ProcessingResponse>();
        Run(h, outbox, Headers((":path", "/v1/completions")));
        Run(h, outbox, BodyMessage("{\"model\":\"m\",\"prompt\":\"hi\"}", true));
        Run(h, outbox, new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200")) } });
        Run(h, outbox, BodyMessage("{\"a\":1}", false, response: true));
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
        Run(h, outbox, BodyMessage("{\"model\":\"m\",\"prompt\":\"hi\"}", true));
        Assert.Equal(1, endpoint.State.InFlight);
        h.Reset(); // stream gone before the response
        Assert.Equal(0, endpoint.State.InFlight);
        outbox.Clear();
        Run(h, outbox, Headers((":path", "/v1/completions")));
        Run(h, outbox, BodyMessage("{\"model\":\"m2\",\"prompt\":\"again\"}", true));
        Assert.Equal(Encoding.UTF8.GetBytes("{\"model\":\"m2\",\"prompt\":\"again\"}"), outbox[1].RequestBody.Response.BodyMutation.StreamedResponse.Body.ToByteArray());
    }
}
