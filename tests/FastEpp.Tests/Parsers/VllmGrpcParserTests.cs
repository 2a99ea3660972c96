using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using Envoy.Service.ExtProc.V3;
using FastEpp.Body;
using FastEpp.Hosting;
using FastEpp.Parsers;
using FastEpp.Parsers.VllmGrpc;
using FastEpp.Tests.ExtProc;
using FastEpp.Tests.Kubernetes;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using static FastEpp.Tests.Kubernetes.KubeTestObjects;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FastEpp.Tests.Parsers;

/// <summary>
/// <c>vllmgrpc-parser</c> (spec extproc.md §4.6–§4.7) over real gRPC with real protobuf frames built from
/// protos/vllm/grpc/engine/vllm_engine.proto: routing, byte-identical forwarding, stream flag, usage from
/// response frames, every error text of the spec's table, prefix input, and the appProtocol health rule.
/// </summary>
public sealed class VllmGrpcParserTests : IAsyncLifetime
{
    private const string Config = """
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - type: vllmgrpc-parser
        - type: prefix-cache-scorer
        schedulingProfiles:
        - name: default
          plugins:
          - pluginRef: prefix-cache-scorer
        parser:
          pluginRef: vllmgrpc-parser
        """;

    private EppServer _epp = null!;

    public async Task InitializeAsync() => _epp = await EppServer.StartAsync("10.0.0.1:8000,10.0.0.2:8000", "--config-text", Config);

    public async Task DisposeAsync() => await _epp.DisposeAsync();

    internal static byte[] Frame(IMessage message, byte flag = 0, int extra = 0)
    {
        byte[] payload = message.ToByteArray();
        var frame = new byte[5 + payload.Length + extra];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private static (string, string)[] GrpcHeaders(string method) =>
        [(":path", "/vllm.grpc.engine.VllmEngine/" + method), (":method", "POST"), ("content-type", "application/grpc"), ("te", "trailers"), ("x-request-id", "g-1")];

    private static GenerateRequest Text(string text, bool stream = false) => new() { RequestId = "r", Text = text, Stream = stream };

    private static GenerateRequest Tokens(bool stream, params uint[] ids)
    {
        var tokenized = new TokenizedInput { OriginalText = "hi" };
        tokenized.InputIds.Add(ids);
        return new GenerateRequest { RequestId = "r", Tokenized = tokenized, Stream = stream };
    }

    private static double Sample(string text, string series)
    {
        var m = Regex.Match(text, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline);
        Assert.True(m.Success, "missing series " + series + "\n" + text);
        return double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Generate_Buffered_ForwardedByteIdentical_UsageFromTheCompleteFrame_EndedByTrailers()
    {
        byte[] body = Frame(Text("Summarise this."), extra: 0);
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, GrpcHeaders("Generate"));
        await s.SendRequestBody(body, 7);
        var headers = EnvoyStream.SetHeaders((await s.Next()).RequestHeaders.Response);
        Assert.StartsWith("10.0.0.", headers["x-gateway-destination-endpoint"], StringComparison.Ordinal);
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), headers["Content-Length"]);
        Assert.Equal(body, (await s.ReadRequestBody()).Body);

        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "application/grpc")) } });
        await s.Next();
        var complete = new GenerateResponse { Complete = new GenerateComplete { FinishReason = "stop", PromptTokens = 21, CompletionTokens = 9, CachedTokens = 16 } };
        complete.Complete.OutputIds.Add([5, 6, 7]);
        byte[] response = Frame(complete);
        await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFrom(response) } });
        await s.Send(new ProcessingRequest { ResponseTrailers = new HttpTrailers() }); // gRPC: the trailers end the response
        var rb = await s.Next();
        Assert.Equal(response, rb.ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToByteArray());
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseTrailers, (await s.Next()).ResponseCase);
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());

        await Wait.UntilAsync(() => _epp.Host.Runtime.Stats.Running == 0, "the request is released");
        string metrics = _epp.Host.RenderMetrics();
        Assert.Equal(21, Sample(metrics, "inference_objective_input_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
        Assert.Equal(9, Sample(metrics, "inference_objective_output_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
        Assert.Equal(16, Sample(metrics, "inference_objective_prompt_cached_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
    }

    [Fact]
    public async Task Generate_StreamField_StreamsEachFrame_UsageFromTheLastChunk()
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, GrpcHeaders("Generate"));
        await s.SendRequestBody(Frame(Tokens(stream: true, 1, 2, 3, 4)), 1 << 16);
        await s.Next();
        await s.ReadRequestBody();
        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "application/grpc")) } });
        await s.Next();
        var first = new GenerateResponse { Chunk = new GenerateStreamChunk() };
        first.Chunk.TokenIds.Add(11);
        var last = new GenerateResponse { Chunk = new GenerateStreamChunk { PromptTokens = 4, CompletionTokens = 2, CachedTokens = 0 } };
        last.Chunk.TokenIds.Add(12);
        foreach (var frame in new[] { Frame(first), Frame(last) })
        {
            await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFrom(frame) } });
            Assert.Equal(frame, (await s.Next()).ResponseBody.Response.BodyMutation.StreamedResponse.Body.ToByteArray()); // at once
        }
        await s.Send(new ProcessingRequest { ResponseTrailers = new HttpTrailers() });
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseTrailers, (await s.Next()).ResponseCase);
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
        await Wait.UntilAsync(() => _epp.Host.Runtime.Stats.Running == 0, "the request is released");
        string metrics = _epp.Host.RenderMetrics();
        Assert.Equal(4, Sample(metrics, "inference_objective_input_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
        Assert.Equal(2, Sample(metrics, "inference_objective_output_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
    }

    [Fact]
    public async Task Embed_UsageFromTheEmbedResponse()
    {
        var request = new EmbedRequest { RequestId = "e", Tokenized = new TokenizedInput { OriginalText = "embed this" } };
        request.Tokenized.InputIds.Add([4, 5, 6]);
        byte[] body = Frame(request);
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, GrpcHeaders("Embed"));
        await s.SendRequestBody(body, 3);
        await s.Next();
        Assert.Equal(body, (await s.ReadRequestBody()).Body);
        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-type", "application/grpc")) } });
        await s.Next();
        var embed = new EmbedResponse { PromptTokens = 3, EmbeddingDim = 2 };
        embed.Embedding.Add([0.5f, 0.25f]);
        await s.Send(new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFrom(Frame(embed)), EndOfStream = true } });
        await s.Next();
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
        await Wait.UntilAsync(() => _epp.Host.Runtime.Stats.Running == 0, "the request is released");
        Assert.Equal(3, Sample(_epp.Host.RenderMetrics(), "inference_objective_input_tokens_sum{model_name=\"\",target_model_name=\"\"}"));
    }

    public static TheoryData<string, byte[], string> BadRequests()
    {
        var noInput = new GenerateRequest { RequestId = "x", Stream = true };
        var garbage = new byte[] { 0, 0, 0, 0, 3, 0x0a, 0x05, 0x61 }; // field 1, length 5, only one byte
        var badUtf8 = new byte[] { 0, 0, 0, 0, 4, 0x1a, 0x02, 0xc3, 0x28 }; // text = invalid UTF-8
        return new()
        {
            { "/v1/completions", Frame(Text("x")), "unsupported gRPC path: /v1/completions" },
            { "/vllm.grpc.engine.VllmEngine/Tokenize", Frame(Text("x")), "unsupported gRPC path: /vllm.grpc.engine.VllmEngine/Tokenize" },
            { "/vllm.grpc.engine.VllmEngine/Generate", [0, 0, 0], "parsing gRPC payload for Generate: not able to parse payload" },
            { "/vllm.grpc.engine.VllmEngine/Generate", [0, 0, 0, 0, 9, 1, 2], "parsing gRPC payload for Generate: not able to parse payload" },
            { "/vllm.grpc.engine.VllmEngine/Generate", Frame(Text("x"), flag: 1), "parsing gRPC payload for Generate: compressed vllmgrpc payload is not supported" },
            { "/vllm.grpc.engine.VllmEngine/Generate", garbage, "parsing gRPC payload for Generate: proto: cannot parse invalid wire-format data" },
            { "/vllm.grpc.engine.VllmEngine/Generate", badUtf8, "parsing gRPC payload for Generate: proto: string field contains invalid UTF-8" },
            { "/vllm.grpc.engine.VllmEngine/Generate", Frame(noInput), "parsing gRPC payload for Generate: not supported request inputType" },
            { "/vllm.grpc.engine.VllmEngine/Embed", [1, 0, 0, 0, 0], "parsing gRPC payload for Embed: compressed vllmgrpc payload is not supported" },
            { "/vllm.grpc.engine.VllmEngine/Embed", Frame(new EmbedRequest { RequestId = "e" }), "parsing gRPC payload for Embed: missing tokenized input in EmbedRequest" },
        };
    }

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Errors_AsTheSpecTable(string path, byte[] body, string message)
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, (":path", path), ("content-type", "application/grpc"));
        await s.SendRequestBody(body, 4096);
        var r = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ImmediateResponse, r.ResponseCase);
        Assert.Equal(400, (int)r.ImmediateResponse.Status.Code);
        Assert.Equal("inference error: BadRequest - " + message, r.ImmediateResponse.Body.ToStringUtf8());
        await s.Complete();
        Assert.Equal(StatusCode.OK, await s.ReadEnd());
    }

    [Fact]
    public void ParseRequest_TrailingBytesIgnored_StreamAndTokensKept()
    {
        var parser = new VllmGrpcParser("v");
        var parsed = new ParsedRequest();
        var headers = new Dictionary<string, string> { [":path"] = VllmGrpcParser.GeneratePath };
        byte[] body = Frame(Tokens(stream: true, 7, 8, 9), extra: 3);
        Assert.Equal(ParseStatus.Ok, parser.ParseRequest(new ReadOnlySequence<byte>(body), headers, parsed, out var error));
        Assert.Null(error);
        Assert.True(parsed.Stream);
        Assert.False(parsed.HasModel);
        Assert.Equal(BodyFormat.Protobuf, parsed.Format);
        Assert.Equal([7u, 8u, 9u], parsed.TokenIds.ToArray());
    }

    [Fact]
    public void PrefixInput_TextIsThePrompt_TokenIdsHashNothing_EmbedIsGoJsonOfTheIds()
    {
        var parser = new VllmGrpcParser("v");
        string PrefixInput(string path, IMessage message)
        {
            var parsed = new ParsedRequest();
            var body = new ReadOnlySequence<byte>(Frame(message));
            Assert.Equal(ParseStatus.Ok, parser.ParseRequest(body, new Dictionary<string, string> { [":path"] = path }, parsed, out _));
            var output = new ArrayBufferWriter<byte>();
            RequestBodyWriter.WritePrefixInput(body, parsed, output);
            return Encoding.UTF8.GetString(output.WrittenSpan);
        }
        Assert.Equal("héllo wörld", PrefixInput(VllmGrpcParser.GeneratePath, Text("héllo wörld")));
        Assert.Equal("", PrefixInput(VllmGrpcParser.GeneratePath, Tokens(false, 1, 2, 3)));
        var embed = new EmbedRequest { Tokenized = new TokenizedInput() };
        embed.Tokenized.InputIds.Add([4, 5, 4294967295]);
        Assert.Equal("{\"Raw\":\"\",\"Strings\":null,\"TokenIDs\":[4,5,4294967295]}", PrefixInput(VllmGrpcParser.EmbedPath, embed));
        Assert.Equal("{\"Raw\":\"\",\"Strings\":null,\"TokenIDs\":null}", PrefixInput(VllmGrpcParser.EmbedPath, new EmbedRequest { Tokenized = new TokenizedInput() }));
    }

    [Fact]
    public async Task TextPrompts_AreHashedIntoThePrefixIndex_TokenizedOnesAreNot()
    {
        async Task Send(GenerateRequest request)
        {
            using var s = _epp.Open();
            await s.SendRequestHeaders(false, GrpcHeaders("Generate"));
            await s.SendRequestBody(Frame(request), 1 << 16);
            await s.Next();
            await s.ReadRequestBody();
        }
        await Send(Tokens(false, Enumerable.Range(0, 500).Select(i => (uint)i).ToArray()));
        FastEpp.Tests.Scheduling.SchedulingTestData.WaitForPrefixRecords(_epp.Host.Scheduler!);
        Assert.Equal(0, Sample(_epp.Host.RenderMetrics(), "inference_extension_prefix_indexer_size"));
        await Send(Text(string.Concat(Enumerable.Repeat("a long shared system prompt ", 20))));
        FastEpp.Tests.Scheduling.SchedulingTestData.WaitForPrefixRecords(_epp.Host.Scheduler!);
        Assert.True(Sample(_epp.Host.RenderMetrics(), "inference_extension_prefix_indexer_size") > 0);
    }

    [Theory]
    [InlineData("kubernetes.io/h2c", ServingStatus.Serving)]
    [InlineData("http", ServingStatus.NotServing)]
    [InlineData(null, ServingStatus.NotServing)] // no appProtocol = http
    public async Task Health_OnlyAnH2cPoolIsServing(string? appProtocol, ServingStatus expected)
    {
        await using var h = await KubeTestHarness.StartAsync();
        var options = EppOptions.Parse(["--pool-name", "pool1", "--pool-namespace", "ns1", "--secure-serving=false",
            "--bind-address", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0", "--config-text", Config]);
        Assert.Null(options.Validate());
        await using var host = await EppHost.StartAsync(options, NullLoggerFactory.Instance, kubeConfig: h.Config);
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("vllm-0", "10.9.0.1"));
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool1", new() { ["app"] = "vllm" }, [8000], appProtocol: appProtocol));
        await Wait.UntilAsync(() => host.Registry.Current.Count == 1, "the pool's endpoint");
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.HealthPort}");
        var health = new Health.HealthClient(channel);
        await Wait.UntilAsync(async () => (await health.CheckAsync(new HealthCheckRequest())).Status == expected, "health " + expected);
        Assert.Equal(expected, (await health.CheckAsync(new HealthCheckRequest { Service = "readiness" })).Status);
    }
}
