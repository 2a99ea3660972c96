using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Scheduling;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;
using static FastEpp.Tests.ExtProc.InProcessStream;

namespace FastEpp.Tests.Requests;

/// <summary>The response processor driven through a stream in process: the usage it records and the in-flight count it releases.</summary>
public sealed class ResponseProcessorTests
{
    [Fact]
    public void SseUsage_FromFinalDataEvent_InFlightReleasedAtEnd()
    {
        var (h, endpoint) = Create();
        var outbox = new List<ProcessingResponse>();
        Run(h, outbox, Headers((":path", "/v1/chat/completions")));
        Run(h, outbox, BodyMessage("{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", true));
        Assert.Equal(1, endpoint.State.InFlight);
        Run(h, outbox, new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers(("content-type", "text/event-stream")) } });
        Run(h, outbox, BodyMessage("data: {\"choices\":[]}\n\n", false, response: true));
        Assert.False(h.Usage.Present);
        Run(h, outbox, BodyMessage("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14,\"prompt_token_details\":{\"cached_tokens\":8}}}\n\ndata: [DONE]\n\n", true, response: true));
        Assert.Equal((true, 11, 3, 14, 8), (h.Usage.Present, h.Usage.PromptTokens, h.Usage.CompletionTokens, h.Usage.TotalTokens, h.Usage.CachedTokens));
        Assert.Equal(0, endpoint.State.InFlight);
    }

    [Fact]
    public void JsonUsage_FromWholeBufferedBody_AcrossChunks()
    {
        var (h, endpoint) = Create();
        var outbox = new List<ProcessingResponse>();
        Run(h, outbox, Headers((":path", "/v1/completions")));
        Run(h, outbox, BodyMessage("{\"model\":\"m\",\"prompt\":\"hi\"}", true));
        Run(h, outbox, new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers(("content-type", "application/json")) } });
        Run(h, outbox, BodyMessage("{\"object\":\"text_completion\",\"usage\":{\"prompt_to", false, response: true));
        Run(h, outbox, BodyMessage("kens\":4,\"completion_tokens\":6,\"total_tokens\":10}}", true, response: true));
        Assert.Equal((true, 4, 6, 10), (h.Usage.Present, h.Usage.PromptTokens, h.Usage.CompletionTokens, h.Usage.TotalTokens));
        Assert.Equal(0, endpoint.State.InFlight);
    }
}
