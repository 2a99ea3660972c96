using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Scheduling;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;

namespace FastEpp.Tests.Requests;

/// <summary>The response processor driven through a stream in process: the usage it records and the in-flight count it releases.</summary>
public sealed class ResponseProcessorTests
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
    public void SseUsage_FromFinalDataEvent_InFlightReleasedAtEnd()
    {
        var (h, endpoint) = Create();
        var outbox = new List<ProcessingResponse>();
        Run(h, outbox, Headers((":path", "/v1/chat/completions")));
        Run(h, outbox, Body("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", true));
        Assert.Equal(1, endpoint.State.InFlight);
        Run(h, outbox, new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers(("content-type", "text/event-stream")) } });
        Run(h, outbox, Body("data: {\"choices\":[]}\n\n", false, response: true));
        Assert.False(h.Usage.Present);
        Run(h, outbox, Body("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14,\"prompt_token_details\":{\"cached_tokens\":8}}}\n\ndata: [DONE]\n\n", true, response: true));
        Assert.Equal((true, 11, 3, 14, 8), (h.Usage.Present, h.Usage.PromptTokens, h.Usage.CompletionTokens, h.Usage.TotalTokens, h.Usage.CachedTokens));
        Assert.Equal(0, endpoint.State.InFlight);
    }

    [Fact]
    public void JsonUsage_FromWholeBufferedBody_AcrossChunks()
    {
        var (h, endpoint) = Create();
        var outbox = new List<ProcessingResponse>();
        Run(h, outbox, Headers((":path", "/v1/completions")));
        Run(h, outbox, Body("{\"model\":\"m\",\"prompt\":\"hi\"}", true));
        Run(h, outbox, new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers(("content-type", "application/json")) } });
        Run(h, outbox, Body("{\"object\":\"text_completion\",\"usage\":{\"prompt_to", false, response: true));
        Run(h, outbox, Body("kens\":4,\"completion_tokens\":6,\"total_tokens\":10}}", true, response: true));
        Assert.Equal((true, 4, 6, 10), (h.Usage.Present, h.Usage.PromptTokens, h.Usage.CompletionTokens, h.Usage.TotalTokens));
        Assert.Equal(0, endpoint.State.InFlight);
    }
}
