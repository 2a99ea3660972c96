using System.Text;
using System.Text.RegularExpressions;
using Envoy.Service.ExtProc.V3;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;
using Grpc.Core;

namespace FastEpp.Tests.Parsers;

/// <summary>
/// <c>parser: {pluginRef: passthrough-parser}</c> (spec extproc.md §4.8) over real gRPC: any body is forwarded
/// byte-identical with no model handling, scheduling still runs, and usage is never parsed.
/// </summary>
public sealed class PassthroughParserTests
{
    private const string Config = """
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - type: passthrough-parser
        - type: header-based-testing-filter
        schedulingProfiles:
        - name: default
          plugins:
          - pluginRef: header-based-testing-filter
        parser:
          pluginRef: passthrough-parser
        """;

    private static Task<EppServer> Start() => EppServer.StartAsync("10.0.0.1:8000,10.0.0.2:8000", "--config-text", Config);

    public static TheoryData<byte[], string> Bodies => new()
    {
        { Encoding.UTF8.GetBytes("this is { not json"), "text/plain" },
        { Encoding.UTF8.GetBytes("{\"model\":\"a\",  \"prompt\":\"keep my spacing\",\"stream\":true}"), "application/json" },
        { [0, 0, 0, 0, 3, 0x0a, 0x01, 0x78, 0xff, 0xfe], "application/grpc" },
        { Enumerable.Range(0, 150_000).Select(i => (byte)(i * 7)).ToArray(), "application/octet-stream" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task AnyBody_ForwardedByteIdentical_ScheduledByHeaders(byte[] body, string contentType)
    {
        await using var epp = await Start();
        using var s = epp.Open();
        await s.SendRequestHeaders(false, (":path", "/anything"), (":method", "POST"), ("content-type", contentType),
            ("x-request-id", "p-1"), ("test-epp-endpoint-selection", "10.0.0.2"));
        await s.SendRequestBody(body, 4096);
        var headers = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        var set = EnvoyStream.SetHeaders(headers.RequestHeaders.Response);
        Assert.Equal("10.0.0.2:8000", set["x-gateway-destination-endpoint"]);
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), set["Content-Length"]);
        Assert.Equal(contentType, set["content-type"]);
        var (forwarded, _) = await s.ReadRequestBody();
        Assert.Equal(body, forwarded);
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
    }

    [Fact]
    public async Task NoModelHandling_RewriteHeaderDoesNotTouchTheBody_AndNoSelectionMeansSchedulerError()
    {
        await using var epp = await Start();
        byte[] body = Encoding.UTF8.GetBytes("{\"model\":\"a\"}");
        using (var s = epp.Open())
        {
            await s.SendRequestHeaders(false, (":path", "/v1/completions"), ("x-gateway-model-name-rewrite", "b"), ("test-epp-endpoint-selection", "10.0.0.1"));
            await s.SendRequestBody(body, 4096);
            await s.Next();
            Assert.Equal(body, (await s.ReadRequestBody()).Body);
        }
        using (var s = epp.Open())
        {
            // The filter keeps nothing without its header: the scheduler error, not a parse error.
            await s.SendRequestHeaders(false, (":path", "/v1/completions"));
            await s.SendRequestBody(Encoding.UTF8.GetBytes("not json"), 4096);
            var r = await s.Next();
            Assert.Equal(ProcessingResponse.ResponseOneofCase.ImmediateResponse, r.ResponseCase);
            Assert.Equal(429, (int)r.ImmediateResponse.Status.Code);
            Assert.Equal("inference error: ResourceExhausted - failed to find target endpoint: failed to run scheduler profile 'default'",
                r.ImmediateResponse.Body.ToStringUtf8());
        }
    }

    [Fact]
    public async Task Response_UsageNeverParsed_SseStillStreamsByContentType()
    {
        await using var epp = await Start();
        using (var s = epp.Open())
        {
            await s.SendRequestHeaders(false, (":path", "/v1/completions"), ("test-epp-endpoint-selection", "10.0.0.1"));
            await s.SendRequestBody(Encoding.UTF8.GetBytes("{\"model\":\"a\",\"prompt\":\"p\",\"stream\":true}"), 4096);
            await s.Next();
            await s.ReadRequestBody();
            // "stream": true in the body means nothing to this parser: a JSON response is buffered to its end.
            await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "application/json")) } });
            await s.Next();
            string json = "{\"object\":\"text_completion\",\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3,\"total_tokens\":14}}";
            await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(json[..10]) } });
            await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(json[10..]), EndOfStream = true } });
            var rb = await s.Next();
            Assert.Equal(json, rb.ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToStringUtf8());
            await s.Complete();
            Assert.Equal(StatusCode.OK, await s.ReadEnd());
        }
        using (var s = epp.Open())
        {
            await s.SendRequestHeaders(false, (":path", "/v1/completions"), ("test-epp-endpoint-selection", "10.0.0.1"));
            await s.SendRequestBody(Encoding.UTF8.GetBytes("x"), 4096);
            await s.Next();
            await s.ReadRequestBody();
            await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "text/event-stream")) } });
            await s.Next();
            string sse = "data: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n";
            await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(sse) } });
            Assert.Equal(sse, (await s.Next()).ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToStringUtf8()); // streamed at once
            await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.Empty, EndOfStream = true } });
            Assert.True((await s.Next()).ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream);
            await s.Complete();
            Assert.Equal(StatusCode.OK, await s.ReadEnd());
        }
        await Wait.UntilAsync(() => epp.Host.Runtime.Stats.Running == 0, "both requests released");
        string metrics = epp.Host.RenderMetrics();
        Assert.Matches(new Regex("^inference_objective_response_sizes_count\\{model_name=\"\",target_model_name=\"\"\\} 2$", RegexOptions.Multiline), metrics);
        Assert.DoesNotMatch(new Regex("^inference_objective_input_tokens_count\\{[^}]*\\} [1-9]", RegexOptions.Multiline), metrics);
    }

    [Fact]
    public void Health_PassthroughServesEveryProtocol()
    {
        var state = new FastEpp.Hosting.HealthState(new FastEpp.Endpoints.EndpointRegistry())
        {
            IsSynced = static () => true,
            AppProtocol = static () => "kubernetes.io/h2c",
            ParserProtocols = new FastEpp.Parsers.PassthroughParser("p").SupportedAppProtocols,
        };
        Assert.True(state.ProtocolOk);
    }
}
