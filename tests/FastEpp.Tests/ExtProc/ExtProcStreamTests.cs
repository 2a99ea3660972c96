using System.Text;
using Envoy.Service.ExtProc.V3;
using HttpCode = Envoy.Type.V3.StatusCode;
using Google.Protobuf;
using Grpc.Core;

namespace FastEpp.Tests.ExtProc;

public sealed class ExtProcStreamTests : IAsyncLifetime
{
    private EppServer _epp = null!;

    public async Task InitializeAsync() => _epp = await EppServer.StartAsync();

    public async Task DisposeAsync() => await _epp.DisposeAsync();

    private static byte[] ChatBody(int promptBytes, string model = "llama", bool stream = false)
    {
        var prompt = new string('x', promptBytes);
        return Encoding.UTF8.GetBytes($"{{\"model\":\"{model}\",\"stream\":{(stream ? "true" : "false")},\"messages\":[{{\"role\":\"user\",\"content\":\"{prompt}\"}}]}}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(31 * 1024)]
    [InlineData(1 << 20)]
    public async Task ChatRequest_AnyChunking_DeferredHeadersThenUnchangedBody(int chunkSize)
    {
        var body = ChatBody(2_000);
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders(extra: [("x-user", "a"), ("x-gateway-inference-objective", "chat"), ("content-length", "999")]));
        await s.SendRequestBody(body, chunkSize);

        var headers = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        var common = headers.RequestHeaders.Response;
        Assert.True(common.ClearRouteCache);
        var set = EnvoyStream.SetHeaders(common);
        string dest = set["x-gateway-destination-endpoint"];
        Assert.Contains(dest, new[] { "10.0.0.1:8000", "10.0.0.2:8000" });
        Assert.Equal(body.Length.ToString(), set["Content-Length"]);
        // Echoed: everything not system-owned, pseudo-headers included.
        Assert.Equal("/v1/chat/completions", set[":path"]);
        Assert.Equal("a", set["x-user"]);
        Assert.Equal("req-1", set["x-request-id"]);
        Assert.False(set.ContainsKey("x-gateway-inference-objective"));
        Assert.False(set.ContainsKey("content-length"));
        Assert.Empty(common.HeaderMutation.RemoveHeaders);
        // envoy.lb metadata carries the same destination.
        Assert.Equal(dest, headers.DynamicMetadata.Fields["envoy.lb"].StructValue.Fields["x-gateway-destination-endpoint"].StringValue);

        var (forwarded, _) = await s.ReadRequestBody();
        Assert.Equal(body, forwarded); // byte-identical: FastEpp does not re-serialise
    }

    [Fact]
    public async Task LargeBody_IsCutInto62000BytePieces_EndOfStreamOnLastOnly()
    {
        var body = ChatBody(220 * 1024);
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(body, 31 * 1024);
        await s.Next();
        var (forwarded, pieces) = await s.ReadRequestBody();
        Assert.Equal(body, forwarded);
        for (int i = 0; i < pieces.Count - 1; i++)
            Assert.Equal(62_000, pieces[i]);
        Assert.Equal(body.Length - 62_000 * (pieces.Count - 1), pieces[^1]);
    }

    [Fact]
    public async Task EightMiBBody_Works()
    {
        var body = ChatBody(8 * 1024 * 1024);
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(body, 64 * 1024);
        var headers = await s.Next();
        Assert.Equal(body.Length.ToString(), EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["Content-Length"]);
        var (forwarded, _) = await s.ReadRequestBody();
        Assert.Equal(body.Length, forwarded.Length);
    }

    [Fact]
    public async Task BufferedMode_WholeBodyInOneMessage_Works()
    {
        var body = ChatBody(100);
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(body, body.Length);
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, (await s.Next()).ResponseCase);
        Assert.Equal(body, (await s.ReadRequestBody()).Body);
    }

    [Fact]
    public async Task BodylessRequest_RandomEndpoint_GeneratedRequestId_ImmediateReply()
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(true, (":method", "GET"), (":path", "/v1/models"));
        var r = await s.Next();
        var set = EnvoyStream.SetHeaders(r.RequestHeaders.Response);
        Assert.Contains(set["x-gateway-destination-endpoint"], new[] { "10.0.0.1:8000", "10.0.0.2:8000" });
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", set["x-request-id"]);
        Assert.False(set.ContainsKey("Content-Length"));
        Assert.False(set.ContainsKey(":path")); // headers are not echoed on the GET path
        Assert.True(r.RequestHeaders.Response.ClearRouteCache);
    }

    [Fact]
    public async Task ResponsePhase_Buffered_EchoesHeaders_ForwardsBodyAtEnd_ThenTrailers()
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(ChatBody(10), 1024);
        await s.Next();
        await s.ReadRequestBody();

        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "application/json"), ("content-length", "42")) } });
        var rh = await s.Next();
        var set = EnvoyStream.SetHeaders(rh.ResponseHeaders.Response);
        Assert.Equal("true", set["x-went-into-resp-headers"]);
        Assert.Equal("200", set[":status"]);
        Assert.False(set.ContainsKey("content-length"));
        Assert.False(rh.ResponseHeaders.Response.ClearRouteCache);

        var part1 = Encoding.UTF8.GetBytes("{\"object\":\"chat.completion\",");
        var part2 = Encoding.UTF8.GetBytes("\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}");
        await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFrom(part1) } });
        await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFrom(part2), EndOfStream = true } });
        var rb = await s.Next(); // nothing is sent for the first chunk: buffered until end_of_stream
        var streamed = rb.ResponseBody.Response.BodyMutation.StreamedResponse;
        Assert.True(streamed.EndOfStream);
        Assert.Equal(part1.Concat(part2).ToArray(), streamed.Body.ToByteArray());

        await s.Send(new ProcessingRequest { ResponseTrailers = new HttpTrailers() });
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseTrailers, (await s.Next()).ResponseCase);
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
        Assert.Equal(0, _epp.Host.Runtime.Stats.Running);
    }

    [Fact]
    public async Task ResponsePhase_Sse_EachChunkForwardedImmediately()
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(ChatBody(10, stream: true), 1024);
        await s.Next();
        await s.ReadRequestBody();
        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "text/event-stream")) } });
        await s.Next();
        for (int i = 0; i < 3; i++)
        {
            var chunk = ByteString.CopyFromUtf8($"data: {{\"i\":{i}}}\n\n");
            await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = chunk, EndOfStream = i == 2 } });
            var r = await s.Next();
            Assert.Equal(chunk, r.ResponseBody.Response.BodyMutation.StreamedResponse.Body);
            Assert.Equal(i == 2, r.ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream);
        }
    }

    [Fact]
    public async Task RequestTrailers_AreAnswered_InsteadOfHanging()
    {
        var body = ChatBody(10);
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.Send(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFrom(body) } });
        await s.Send(new ProcessingRequest { RequestTrailers = new HttpTrailers() });
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, (await s.Next()).ResponseCase);
        var r = await s.Next();
        Assert.Equal(body, r.RequestBody.Response.BodyMutation.StreamedResponse.Body.ToByteArray());
        Assert.False(r.RequestBody.Response.BodyMutation.StreamedResponse.EndOfStream); // trailers follow
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestTrailers, (await s.Next()).ResponseCase);
    }

    [Fact]
    public async Task ModelRewriteHeader_SplicesModel_FixesContentLength_RestoresInResponse()
    {
        var body = Encoding.UTF8.GetBytes("{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"z\":1.50}");
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders(extra: ("x-gateway-model-name-rewrite", "big-model")));
        await s.SendRequestBody(body, 5);
        var h = await s.Next();
        var (forwarded, _) = await s.ReadRequestBody();
        string expected = "{\"model\":\"big-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"z\":1.50}";
        Assert.Equal(expected, Encoding.UTF8.GetString(forwarded));
        Assert.Equal(expected.Length.ToString(), EnvoyStream.SetHeaders(h.RequestHeaders.Response)["Content-Length"]);
        Assert.False(EnvoyStream.SetHeaders(h.RequestHeaders.Response).ContainsKey("x-gateway-model-name-rewrite"));

        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200")) } });
        await s.Next();
        await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8("{\"model\":\"big-model\",\"x\":1}"), EndOfStream = true } });
        var rb = await s.Next();
        Assert.Equal("{\"model\":\"a\",\"x\":1}", rb.ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToStringUtf8());
    }

    public static TheoryData<string, byte[], int, string> BadRequests => new()
    {
        { "/v1/chat/completions", "{\"model\": nul"u8.ToArray(), 400, "inference error: BadRequest - error unmarshaling request bodyMap: invalid character ' ' in literal null (expecting 'l')" },
        { "/v1/chat/completions", "{\"model\":\"m\""u8.ToArray(), 400, "inference error: BadRequest - error unmarshaling request bodyMap: unexpected end of JSON input" },
        { "/v1/chat/completions", "[1]"u8.ToArray(), 400, "inference error: BadRequest - error unmarshaling request bodyMap: json: cannot unmarshal array into Go value of type map[string]interface {}" },
        { "/v1/chat/completions", ""u8.ToArray(), 400, "inference error: BadRequest - error unmarshaling request bodyMap: unexpected end of JSON input" },
        { "/v1/chat/completions", "{\"model\":\"m\"}"u8.ToArray(), 400, "inference error: BadRequest - invalid chat completions request: must have valid messages field" },
        { "/v1/completions", "{\"model\":\"m\"}"u8.ToArray(), 400, "inference error: BadRequest - invalid completions request: must have prompt field" },
        { "/v1/completions", "{\"prompt\":\"hi\"}"u8.ToArray(), 400, "inference error: BadRequest - model not found in request body" },
        { "/v1/completions", "{\"model\":7,\"prompt\":\"hi\"}"u8.ToArray(), 400, "inference error: BadRequest - model not found in request body" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadBodies_GetImmediateResponse_ThenStreamEndsOk(string path, byte[] body, int status, string text)
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders(path));
        await s.SendRequestBody(body, 3);
        var r = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ImmediateResponse, r.ResponseCase);
        Assert.Equal(status, (int)r.ImmediateResponse.Status.Code);
        Assert.Equal(text, r.ImmediateResponse.Body.ToStringUtf8());
        Assert.Equal(0, r.ImmediateResponse.Headers?.SetHeaders.Count ?? 0);
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
    }

    [Fact]
    public async Task SubsetHint_RestrictsCandidates_PortIgnored()
    {
        for (int i = 0; i < 20; i++)
        {
            using var s = _epp.Open();
            await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
            await s.SendRequestBody(ChatBody(10), 1024, EnvoyStream.SubsetHint("10.0.0.2:9999"));
            var h = await s.Next();
            Assert.Equal("10.0.0.2:8000", EnvoyStream.SetHeaders(h.RequestHeaders.Response)["x-gateway-destination-endpoint"]);
        }
    }

    [Fact]
    public async Task SubsetHint_EmptyList_Is503()
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(ChatBody(10), 1024, EnvoyStream.SubsetHint());
        var r = await s.Next();
        Assert.Equal(HttpCode.ServiceUnavailable, r.ImmediateResponse.Status.Code);
        Assert.Equal("inference error: ServiceUnavailable - failed to find endpoint candidates for serving the request", r.ImmediateResponse.Body.ToStringUtf8());
    }

    [Fact]
    public async Task ProtocolMisuse_BodyBeforeHeaders_EndsCallWithInvalidArgument()
    {
        using var s = _epp.Open();
        await s.Send(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFromUtf8("{}"), EndOfStream = true } });
        Assert.Equal(StatusCode.InvalidArgument, await s.ReadEnd());
    }

    [Fact]
    public async Task ProtocolMisuse_DuplicateEndOfStream_EndsCallWithInvalidArgument()
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(ChatBody(10), 1024);
        await s.Next();
        await s.ReadRequestBody();
        await s.Send(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFromUtf8("x"), EndOfStream = true } });
        Assert.Equal(StatusCode.InvalidArgument, await s.ReadEnd());
        Assert.Equal(0, _epp.Host.Runtime.Stats.Running);
    }

    [Fact]
    public async Task ClientCancelsMidBody_StreamIsReleased()
    {
        using (var s = _epp.Open())
        {
            await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
            await s.Send(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFromUtf8("{\"model\":") } });
        } // dispose = cancel
        // A cancelled scheduled request releases its in-flight count too.
        using (var s = _epp.Open())
        {
            await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
            await s.SendRequestBody(ChatBody(10), 1024);
            await s.Next();
            await s.ReadRequestBody();
        }
        await Wait.UntilAsync(() => _epp.Host.Runtime.Stats.Running == 0, "no request running");
        foreach (var e in _epp.Endpoints.Endpoints)
            Assert.Equal(0, e.State.InFlight);
    }

    [Fact]
    public async Task TwoThousandConcurrentStreams_AllAnswered()
    {
        var body = ChatBody(500);
        var tasks = Enumerable.Range(0, 2000).Select(async i =>
        {
            using var s = _epp.Open();
            await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
            await s.SendRequestBody(body, 256);
            var h = await s.Next();
            var (forwarded, _) = await s.ReadRequestBody();
            await s.Complete();
            return forwarded.Length == body.Length && h.ResponseCase == ProcessingResponse.ResponseOneofCase.RequestHeaders;
        }).ToArray();
        var results = await Task.WhenAll(tasks);
        Assert.All(results, Assert.True);
        Assert.Equal(2000, _epp.Host.Runtime.Stats.Requests);
    }
}
