using System.Net.Sockets;
using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.ExtProcClient;
using FastEpp.Tests.ExtProc;
using Google.Protobuf;
using Grpc.Core;

namespace FastEpp.Tests.Reliability;

/// <summary>
/// The hostile input table of docs/reliability.md, row by row, over real gRPC on loopback: each class of
/// malformed or hostile input gets its defined outcome, and a well-behaved stream opened while (or right
/// after) the hostile one is still routed — other streams are unaffected. Every test ends with the EPP's
/// in-flight counters back at zero.
/// </summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private const int BodyLimit = 1024 * 1024;
    private EppServer _epp = null!;

    public async Task InitializeAsync() => _epp = await EppServer.StartAsync(extraFlags: ["--max-request-body-bytes", BodyLimit.ToString()]);

    public async Task DisposeAsync() => await _epp.DisposeAsync();

    private static byte[] Chat(string prompt = "hi", string model = "m") =>
        Encoding.UTF8.GetBytes($"{{\"model\":\"{model}\",\"messages\":[{{\"role\":\"user\",\"content\":\"{prompt}\"}}]}}");

    /// <summary>A normal request on a new stream: routed, its body forwarded unchanged.</summary>
    private async Task AssertHealthyStream()
    {
        var body = Chat("still fine");
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(body, 64 * 1024);
        var headers = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, headers.ResponseCase);
        Assert.Contains(EnvoyStream.SetHeaders(headers.RequestHeaders.Response)["x-gateway-destination-endpoint"], new[] { "10.0.0.1:8000", "10.0.0.2:8000" });
        Assert.Equal(body, (await s.ReadRequestBody()).Body);
    }

    private async Task AssertNothingInFlight()
    {
        await Wait.UntilAsync(() => _epp.Endpoints.Endpoints.All(e => e.State.InFlight == 0), "every endpoint's in-flight counter back to 0");
        await Wait.UntilAsync(() => _epp.Host.Runtime.Stats.Running == 0, "no request running");
    }

    private async Task<ProcessingResponse> SendBody(byte[] body, int chunk, string path = "/v1/chat/completions")
    {
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders(path));
        await s.SendRequestBody(body, chunk);
        return await s.Next();
    }

    public static TheoryData<string, string, int, string> BadBodies => new()
    {
        // class, body, HTTP status, text prefix
        { "invalid JSON", "{\"model\":\"m\",", 400, "error unmarshaling request bodyMap: unexpected end of JSON input" },
        { "truncated JSON", "{\"model\":\"m\",\"messages\":[{\"role\":\"us", 400, "error unmarshaling request bodyMap: unexpected end of JSON input" },
        { "deep nesting", "{\"model\":\"m\",\"messages\":" + new string('[', 100_000) + new string(']', 100_000) + "}", 400, "error unmarshaling request bodyMap: invalid character '[' exceeded max depth" },
        { "huge number", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":1e400}", 400, "error unmarshaling request bodyMap: json: cannot unmarshal number 1e400" },
        { "top level not an object", "[1,2,3]", 400, "error unmarshaling request bodyMap: json: cannot unmarshal array" },
        { "empty body", "", 400, "error unmarshaling request bodyMap: unexpected end of JSON input" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task MalformedBody_ImmediateResponse400_OthersUnaffected(string kind, string body, int status, string text)
    {
        var r = await SendBody(Encoding.UTF8.GetBytes(body), 16 * 1024);
        Assert.True(r.ResponseCase == ProcessingResponse.ResponseOneofCase.ImmediateResponse, kind);
        Assert.Equal(status, (int)r.ImmediateResponse.Status.Code);
        Assert.StartsWith("inference error: BadRequest - " + text, r.ImmediateResponse.Body.ToStringUtf8());
        await AssertHealthyStream();
        await AssertNothingInFlight();
    }

    [Fact]
    public async Task DuplicateKeys_LastModelWins_Routed()
    {
        var body = Encoding.UTF8.GetBytes("{\"model\":\"first\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":\"last\"}");
        var r = await SendBody(body, 7);
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, r.ResponseCase);
        await AssertNothingInFlight();
    }

    [Fact]
    public async Task InvalidUtf8InStrings_AcceptedAsGoDoes_BodyForwardedByteIdentical()
    {
        var body = Chat("bad\u00ff").Select(b => b == 0xC3 ? (byte)0xFF : b).ToArray(); // 0xFF 0xBF: invalid UTF-8
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        await s.SendRequestBody(body, 5);
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, (await s.Next()).ResponseCase);
        Assert.Equal(body, (await s.ReadRequestBody()).Body);
    }

    [Fact]
    public async Task BodyOverTheLimit_ImmediateResponse413_OthersUnaffected()
    {
        var r = await SendBody(Chat(new string('x', BodyLimit + 10)), 64 * 1024);
        Assert.Equal(ProcessingResponse.ResponseOneofCase.ImmediateResponse, r.ResponseCase);
        Assert.Equal(413, (int)r.ImmediateResponse.Status.Code);
        await AssertHealthyStream();
        await AssertNothingInFlight();
    }

    [Fact]
    public async Task SingleMessageOverTheLimit_RefusedBeforeBuffering_OthersUnaffected()
    {
        // One gRPC message far above the body limit is refused by the gRPC layer (ResourceExhausted) rather than read whole.
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        try
        {
            await s.Send(EnvoyMessages.RequestBody(ByteString.CopyFrom(new byte[BodyLimit * 4]), endOfStream: true));
        }
        catch (RpcException)
        {
        }
        Assert.Equal(StatusCode.ResourceExhausted, await s.ReadEnd());
        await AssertHealthyStream();
        await AssertNothingInFlight();
    }

    [Fact]
    public async Task TrickledBody_OneByteMessages_RoutedWhileAnotherStreamIsServed()
    {
        var body = Chat(new string('t', 2_000));
        using var slow = _epp.Open();
        await slow.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
        var half = body.Length / 2;
        for (int i = 0; i < half; i++)
            await slow.Send(EnvoyMessages.RequestBody(ByteString.CopyFrom(body, i, 1), endOfStream: false));
        await AssertHealthyStream(); // served while the trickle is half-way
        for (int i = half; i < body.Length; i++)
            await slow.Send(EnvoyMessages.RequestBody(ByteString.CopyFrom(body, i, 1), endOfStream: i == body.Length - 1));
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, (await slow.Next()).ResponseCase);
        Assert.Equal(body, (await slow.ReadRequestBody()).Body);
        slow.Dispose(); // the gateway goes away before the response: the request leaves the in-flight count
        await AssertNothingInFlight();
    }

    [Fact]
    public async Task ThousandsOfHeaders_And64KiBValues_RoutedAndEchoed()
    {
        var extra = new List<(string, string)>();
        for (int i = 0; i < 5_000; i++)
            extra.Add(($"x-h-{i}", "v"));
        extra.Add(("x-big", new string('b', 64 * 1024)));
        using var s = _epp.Open();
        await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders(extra: extra.ToArray()));
        var body = Chat();
        await s.SendRequestBody(body, 1024);
        var r = await s.Next();
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, r.ResponseCase);
        var set = EnvoyStream.SetHeaders(r.RequestHeaders.Response);
        Assert.Equal(64 * 1024, set["x-big"].Length);
        Assert.Equal("v", set["x-h-4999"]);
        Assert.Equal(body, (await s.ReadRequestBody()).Body);
        s.Dispose();
        await AssertNothingInFlight();
    }

    public static TheoryData<string> ImpossibleOrders => new() { "body-first", "headers-twice", "request-after-response", "empty", "body-after-end" };

    [Theory]
    [MemberData(nameof(ImpossibleOrders))]
    public async Task ImpossibleMessageOrder_InvalidArgument_OthersUnaffected(string order)
    {
        using var s = _epp.Open();
        var body = EnvoyMessages.RequestBody(ByteString.CopyFrom(Chat()), endOfStream: true);
        switch (order)
        {
            case "body-first":
                await s.Send(body);
                break;
            case "headers-twice":
                await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
                await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
                break;
            case "request-after-response":
                // A stream may begin with the response (the request phase skipped); a request after it cannot come.
                await s.Send(EnvoyMessages.ResponseHeaders(EnvoyMessages.Headers((":status", "200"))));
                Assert.Equal(ProcessingResponse.ResponseOneofCase.ResponseHeaders, (await s.Next()).ResponseCase);
                await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
                break;
            case "empty":
                await s.Send(new ProcessingRequest());
                break;
            case "body-after-end":
                await s.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
                await s.Send(body);
                Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, (await s.Next()).ResponseCase);
                await s.ReadRequestBody();
                await s.Send(body);
                break;
        }
        Assert.Equal(StatusCode.InvalidArgument, await s.ReadEnd());
        await AssertHealthyStream();
        await AssertNothingInFlight();
    }

    [Fact]
    public async Task UnknownProtobufFields_Ignored_Routed()
    {
        // Field 999 (varint) and field 1000 (bytes), unknown to every message we parse: a newer Envoy's fields.
        static ProcessingRequest WithUnknown(ProcessingRequest m)
        {
            var bytes = m.ToByteArray().Concat(new byte[] { 0xB8, 0x3E, 0x2A, 0xC2, 0x3E, 0x03, (byte)'a', (byte)'b', (byte)'c' }).ToArray();
            return ProcessingRequest.Parser.ParseFrom(bytes);
        }
        using var s = _epp.Open();
        await s.Send(WithUnknown(EnvoyMessages.RequestHeaders(EnvoyStream.Headers(EnvoyStream.ChatHeaders()))));
        await s.Send(WithUnknown(EnvoyMessages.RequestBody(ByteString.CopyFrom(Chat()), endOfStream: true)));
        Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestHeaders, (await s.Next()).ResponseCase);
        s.Dispose();
        await AssertNothingInFlight();
    }

    [Fact]
    public async Task ResetMidBody_AndAfterRouting_InFlightBackToZero()
    {
        var body = Chat(new string('r', 100_000));
        for (int i = 0; i < 20; i++)
        {
            using var cts = new CancellationTokenSource();
            var call = new ExternalProcessor.ExternalProcessorClient(_epp.Channel).Process(cancellationToken: cts.Token);
            var s = new ExtProcStream(call);
            await s.SendRequestHeadersAsync(EnvoyStream.Headers(EnvoyStream.ChatHeaders()));
            var chunks = EnvoyMessages.Chunk(body, 8 * 1024);
            int stop = i % 2 == 0 ? chunks.Length / 2 : chunks.Length; // mid-body, or after the routing decision
            for (int c = 0; c < stop; c++)
                await s.SendAsync(EnvoyMessages.RequestBody(chunks[c], c == chunks.Length - 1));
            if (stop == chunks.Length)
                Assert.NotNull(await s.ReadAsync());
            cts.Cancel(); // RST_STREAM
            s.Dispose();
        }
        await AssertNothingInFlight();
        await AssertHealthyStream();
    }

    [Fact]
    public async Task RapidReset_ThousandsOfStreamsOpenedAndCancelled_ServerStaysResponsive()
    {
        // HEADERS then RST_STREAM as fast as the client can: the CVE-2023-44487 pattern at the gRPC layer.
        var client = new ExternalProcessor.ExternalProcessorClient(_epp.Channel);
        var tasks = new List<Task>();
        for (int i = 0; i < 2_000; i++)
        {
            var cts = new CancellationTokenSource();
            var call = client.Process(cancellationToken: cts.Token);
            tasks.Add(call.RequestStream.WriteAsync(EnvoyMessages.RequestHeaders(EnvoyStream.Headers(EnvoyStream.ChatHeaders())))
                .ContinueWith(_ => { cts.Cancel(); call.Dispose(); cts.Dispose(); }, TaskScheduler.Default));
        }
        await Task.WhenAll(tasks);
        await AssertHealthyStream();
        await AssertNothingInFlight();
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("http1")]
    [InlineData("preface-then-garbage")]
    [InlineData("idle")]
    public async Task GarbageAndIdleConnections_OnTheGrpcPort_OthersUnaffected(string kind)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", _epp.Host.GrpcPort);
        var stream = tcp.GetStream();
        byte[] payload = kind switch
        {
            "garbage" => Enumerable.Range(0, 64 * 1024).Select(i => (byte)(i * 7919 >> 3)).ToArray(),
            "http1" => Encoding.ASCII.GetBytes("POST /envoy.service.ext_proc.v3.ExternalProcessor/Process HTTP/1.1\r\nHost: x\r\n\r\n"),
            "preface-then-garbage" => Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").Concat(new byte[4096].Select((_, i) => (byte)i)).ToArray(),
            _ => [],
        };
        if (payload.Length > 0)
        {
            try
            {
                await stream.WriteAsync(payload);
            }
            catch (IOException)
            {
                // the server may close first
            }
        }
        await AssertHealthyStream(); // while the hostile connection is still open (or just closed by the server)
        if (kind != "idle")
        {
            // The server closes a connection that does not speak HTTP/2: reading reaches the end (or a reset).
            var buf = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                while (await stream.ReadAsync(buf, timeout.Token) > 0)
                {
                }
            }
            catch (IOException)
            {
            }
            Assert.False(timeout.IsCancellationRequested, "the server kept a garbage connection open");
        }
    }
}
