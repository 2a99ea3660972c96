using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.Configuration;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace FastEpp.Tests.Requests;

/// <summary>
/// <c>request-attribute-reporter</c> over real gRPC: the CEL value lands in the dynamic metadata of the response's
/// last body piece, streamed or buffered; config errors stop start-up with the reference's texts.
/// </summary>
public sealed class RequestAttributeReporterTests
{
    private static string Config(string expression, string? condition = null, string ns = "") => $$"""
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - name: total-tokens-cost-reporter
          type: request-attribute-reporter
          parameters:
            attributes:
            - key:
                {{(ns.Length > 0 ? "namespace: " + ns : "")}}
                name: x-gateway-inference-request-cost
              expression: "{{expression}}"
              {{(condition is null ? "" : "condition: \"" + condition + "\"")}}
        """;

    private static async Task<List<ProcessingResponse>> Exchange(EppServer epp, bool sse, params string[] responseChunks)
    {
        using var s = epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders("/v1/completions"));
        await s.SendRequestBody(Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"p\"}"), 4096);
        await s.Next();
        await s.ReadRequestBody();
        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", sse ? "text/event-stream" : "application/json")) } });
        await s.Next();
        var replies = new List<ProcessingResponse>();
        for (int i = 0; i < responseChunks.Length; i++)
        {
            bool last = i == responseChunks.Length - 1;
            await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(responseChunks[i]), EndOfStream = last } });
            if (sse || last)
                replies.Add(await s.Next());
        }
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
        return replies;
    }

    private const string JsonWithUsage = "{\"object\":\"text_completion\",\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":12,\"total_tokens\":42}}";

    [Fact]
    public async Task Buffered_ValueInTheLastPiecesMetadata()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--config-text", Config("usage.prompt_tokens + usage.completion_tokens * 4.0", "has(usage.completion_tokens)"));
        var replies = await Exchange(epp, sse: false, JsonWithUsage[..15], JsonWithUsage[15..]);
        var last = Assert.Single(replies);
        Assert.True(last.ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream);
        Assert.Equal(78, last.DynamicMetadata.Fields["envoy.lb"].StructValue.Fields["x-gateway-inference-request-cost"].NumberValue);
    }

    [Fact]
    public async Task Streaming_OnlyTheFinalChunkCarriesIt_UsageFromAnEarlierChunk()
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--config-text", Config("usage.total_tokens / 4.0", ns: "ratelimit"));
        var replies = await Exchange(epp, sse: true,
            "data: {\"choices\":[{\"text\":\"a\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
            "data: [DONE]\n\n");
        Assert.Equal(3, replies.Count);
        Assert.Null(replies[0].DynamicMetadata);
        Assert.Null(replies[1].DynamicMetadata);
        Assert.Equal(1, replies[2].DynamicMetadata.Fields["ratelimit"].StructValue.Fields["x-gateway-inference-request-cost"].NumberValue); // 7/4 truncated
    }

    [Theory]
    [InlineData("usage.completion_tokens", "usage.completion_tokens > 100")] // condition false
    [InlineData("usage.completion_tokens - 12.0", null)] // 0 is not written
    [InlineData("usage.completion_tokens * 2", null)] // an evaluation error
    [InlineData("usage.completion_tokens > 1.0", null)] // not a number
    public async Task NothingWritten(string expression, string? condition)
    {
        await using var epp = await EppServer.StartAsync("10.0.0.1:8000", "--config-text", Config(expression, condition));
        var last = Assert.Single(await Exchange(epp, sse: false, JsonWithUsage));
        Assert.Null(last.DynamicMetadata);
    }

    [Theory]
    [InlineData("plugins:\n- type: request-attribute-reporter\n", "attributes must contain exactly one entry")]
    [InlineData("plugins:\n- type: request-attribute-reporter\n  parameters:\n    attributes:\n    - key: {name: a}\n      expression: x\n    - key: {name: b}\n      expression: y\n", "attributes must contain exactly one entry")]
    [InlineData("plugins:\n- type: request-attribute-reporter\n  parameters:\n    attributes:\n    - expression: usage.total_tokens\n", "attributeKey.name cannot be empty")]
    [InlineData("plugins:\n- type: request-attribute-reporter\n  parameters:\n    attributes:\n    - key: {name: a}\n", "attributes[0].expression cannot be empty")]
    [InlineData("plugins:\n- type: request-attribute-reporter\n  parameters:\n    attributes:\n    - key: {name: a}\n      expression: 'usage.total_tokens +'\n",
        "failed to compile expression: ERROR: <input>:1:21: Syntax error: mismatched input '<EOF>' expecting an expression")]
    [InlineData("plugins:\n- type: request-attribute-reporter\n  parameters:\n    attributes:\n    - key: {name: a}\n      expression: usage.total_tokens\n      condition: 'cost > 1'\n",
        "failed to compile condition: ERROR: <input>:1:1: undeclared reference to 'cost' (in container '')")]
    public void ConfigErrors_StopStartUp(string yaml, string message)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(yaml));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
