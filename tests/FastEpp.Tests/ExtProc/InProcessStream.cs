using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Scheduling;
using Google.Protobuf;

namespace FastEpp.Tests.ExtProc;

/// <summary>A <see cref="StreamHandler"/> driven in process, message by message, over one endpoint (no gRPC).</summary>
internal static class InProcessStream
{
    public static (StreamHandler Handler, Endpoint Endpoint) Create()
    {
        var registry = new EndpointRegistry();
        var endpoint = new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000);
        registry.Publish([endpoint]);
        return (new StreamHandler(new RequestServices { Registry = registry, Scheduler = new RandomScheduler() }), registry.Current.Endpoints[0]);
    }

    public static ProcessingRequest Headers(params (string, string)[] h) =>
        new() { RequestHeaders = new HttpHeaders { Headers = EnvoyStream.Headers(h) } };

    public static ProcessingRequest BodyMessage(string text, bool eos, bool response = false)
    {
        var b = new HttpBody { Body = ByteString.CopyFromUtf8(text), EndOfStream = eos };
        return response ? new ProcessingRequest { ResponseBody = b } : new ProcessingRequest { RequestBody = b };
    }

    public static void Run(StreamHandler h, List<ProcessingResponse> outbox, ProcessingRequest m) =>
        Assert.Equal(StreamHandler.Outcome.Continue, h.Handle(m, outbox, out _));
}
