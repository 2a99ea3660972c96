using System.Text;
using System.Text.RegularExpressions;
using Envoy.Service.ExtProc.V3;
using Google.Protobuf;
using Grpc.Core;

namespace FastEpp.Tests.ExtProc;

/// <summary>
/// Streams whose first message is <c>response_headers</c> (Envoy's processing mode skips the request phase, e.g. a
/// route that only processes responses; issue 9 §2): answered as the reference does, over real gRPC.
/// </summary>
public sealed class ResponseOnlyStreamTests : IAsyncLifetime
{
    private EppServer _epp = null!;

    public async Task InitializeAsync() => _epp = await EppServer.StartAsync();

    public async Task DisposeAsync() => await _epp.DisposeAsync();

    private static ProcessingRequest ResponseHeaders(params (string, string)[] headers) =>
        new() { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers(headers) } };

    private static ProcessingRequest ResponseBody(string text, bool endOfStream) =>
        new() { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(text), EndOfStream = endOfStream } };

    private static double Sample(string text, string series)
    {
        var m = Regex.Match(text, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline);
        Assert.True(m.Success, "missing series " + series + "\n" + text);
        return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Json_HeadersSanitised_BodyBuffered_UsageParsed_TrailersAnswered()
    {
        using var s = _epp.Open();
        await s.Send(ResponseHeaders((":status", "200"), ("content-type", "application/json"), ("content-length", "99"),
            ("x-gateway-destination-endpoint", "10.9.9.9:1"), ("x-backend", "b")));
        var rh = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseHeaders, rh.ResponseCase);
        var set = EnvoyStream.SetHeaders(rh.ResponseHeaders.Response);
        Assert.Equal("true", set["x-went-into-resp-headers"]);
        Assert.Equal("200", set[":status"]);
        Assert.Equal("b", set["x-backend"]);
        Assert.False(set.ContainsKey("content-length"));
        Assert.False(set.ContainsKey("x-gateway-destination-endpoint"));
        Assert.Null(rh.DynamicMetadata);

        string json = "{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":8,\"total_tokens\":48}}";
        await s.Send(ResponseBody(json[..20], false));
        await s.Send(ResponseBody(json[20..], true));
        var rb = await s.Next(); // nothing before the end: buffered
        Assert.Equal(json, rb.ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToStringUtf8());
        Assert.True(rb.ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream);
        await s.Send(new ProcessingRequest { ResponseTrailers = new HttpTrailers() });
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseTrailers, (await s.Next()).ResponseCase);
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());

        await Wait.UntilAsync(() => Regex.IsMatch(_epp.Host.RenderMetrics(), "^inference_objective_input_tokens_count\\{model_name=\"\",target_model_name=\"\"\\} 1$", RegexOptions.Multiline),
            "the response-side metrics of the response-only stream");
        string text = _epp.Host.RenderMetrics();
        Assert.Equal(40, Sample(text, "inference_objective_input_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
        Assert.Equal(8, Sample(text, "inference_objective_output_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
        Assert.Equal(json.Length, Sample(text, "inference_objective_response_sizes_sum{model_name=\"\",target_model_name=\"\"}"));
        Assert.Equal(0, _epp.Host.Runtime.Stats.Running);
    }

    [Fact]
    public async Task Sse_StreamedChunkByChunk_ThenTrailers()
    {
        using var s = _epp.Open();
        await s.Send(ResponseHeaders((":status", "200"), ("content-type", "text/event-stream")));
        await s.Next();
        string[] chunks = ["data: {\"choices\":[{\"text\":\"a\"}]}\n\n", "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n", "data: [DONE]\n\n"];
        for (int i = 0; i < chunks.Length; i++)
        {
            await s.Send(ResponseBody(chunks[i], i == chunks.Length - 1));
            var r = await s.Next(); // each chunk answered before the next is sent
            Assert.Equal(chunks[i], r.ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToStringUtf8());
            Assert.Equal(i == chunks.Length - 1, r.ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream);
        }
        await s.Send(new ProcessingRequest { ResponseTrailers = new HttpTrailers() });
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseTrailers, (await s.Next()).ResponseCase);
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
    }

    [Fact]
    public async Task GrpcLike_TrailersEndTheBufferedResponse()
    {
        using var s = _epp.Open();
        await s.Send(ResponseHeaders((":status", "200"), ("content-type", "application/grpc")));
        await s.Next();
        await s.Send(ResponseBody("abc", false));
        await s.Send(new ProcessingRequest { ResponseTrailers = new HttpTrailers() });
        var body = await s.Next();
        Assert.Equal("abc", body.ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToStringUtf8());
        Assert.False(body.ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream);
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseTrailers, (await s.Next()).ResponseCase);
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
    }

    [Fact]
    public async Task RequestMessagesAfterTheResponseBegan_AreStillInvalidArgument()
    {
        using (var s = _epp.Open())
        {
            await s.Send(ResponseHeaders((":status", "200")));
            await s.Next();
            await s.Send(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFromUtf8("x"), EndOfStream = true } });
            Assert.Equal(StatusCode.InvalidArgument, await s.ReadEnd());
        }
        using (var s = _epp.Open())
        {
            await s.Send(ResponseHeaders((":status", "200")));
            await s.Next();
            await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
            Assert.Equal(StatusCode.InvalidArgument, await s.ReadEnd());
        }
        using (var s = _epp.Open())
        {
            await s.Send(ResponseHeaders((":status", "200")));
            await s.Next();
            await s.Send(ResponseHeaders((":status", "200")));
            Assert.Equal(StatusCode.InvalidArgument, await s.ReadEnd());
        }
    }
}
