using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.Hosting;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Metadata = Envoy.Config.Core.V3.Metadata;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.ExtProc;

/// <summary>An EPP started in-process on loopback (real Kestrel, real gRPC), plaintext.</summary>
internal sealed class EppServer : IAsyncDisposable
{
    public EppHost Host { get; }
    public GrpcChannel Channel { get; }

    private EppServer(EppHost host)
    {
        Host = host;
        Channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.GrpcPort}", new GrpcChannelOptions
        {
            MaxReceiveMessageSize = null,
            MaxSendMessageSize = null,
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
    }

    public static async Task<EppServer> StartAsync(string endpoints = "10.0.0.1:8000,10.0.0.2:8000", params string[] extraFlags)
    {
        var args = new List<string> { "--endpoints", endpoints, "--secure-serving=false", "--bind-address", "127.0.0.1",
            "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0" };
        args.AddRange(extraFlags);
        var options = EppOptions.Parse(args);
        Assert.Null(options.Validate());
        return new EppServer(await EppHost.StartAsync(options, NullLoggerFactory.Instance));
    }

    public EnvoyStream Open() => new(new ExternalProcessor.ExternalProcessorClient(Channel).Process());

    public EndpointSnapshot Endpoints => Host.Registry.Current;

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Host.DisposeAsync();
    }
}

/// <summary>Drives one ext_proc stream the way Envoy does in FULL_DUPLEX_STREAMED mode.</summary>
internal sealed class EnvoyStream : IDisposable
{
    private readonly AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> _call;

    public EnvoyStream(AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> call) => _call = call;

    public static HeaderMap Headers(params (string Key, string Value)[] headers)
    {
        var map = new HeaderMap();
        foreach (var (k, v) in headers)
            map.Headers.Add(new HeaderValue { Key = k, RawValue = ByteString.CopyFromUtf8(v) });
        return map;
    }

    public static (string, string)[] ChatHeaders(string path = "/v1/chat/completions", params (string, string)[] extra) =>
        [(":method", "POST"), (":path", path), (":authority", "gateway"), (":scheme", "http"),
         ("content-type", "application/json"), ("x-request-id", "req-1"), .. extra];

    public Task SendRequestHeaders(bool endOfStream = false, params (string, string)[] headers) =>
        Send(new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = Headers(headers), EndOfStream = endOfStream } });

    public async Task SendRequestBody(byte[] body, int chunkSize, Metadata? metadata = null)
    {
        if (body.Length == 0)
        {
            await Send(new ProcessingRequest { RequestBody = new HttpBody { EndOfStream = true }, MetadataContext = metadata });
            return;
        }
        for (int offset = 0; offset < body.Length; offset += chunkSize)
        {
            int n = Math.Min(chunkSize, body.Length - offset);
            bool last = offset + n == body.Length;
            await Send(new ProcessingRequest
            {
                RequestBody = new HttpBody { Body = ByteString.CopyFrom(body, offset, n), EndOfStream = last },
                MetadataContext = last ? metadata : null,
            });
        }
    }

    public Task Send(ProcessingRequest request) => _call.RequestStream.WriteAsync(request);

    public Task Complete() => _call.RequestStream.CompleteAsync();

    public async Task<ProcessingResponse> Next()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.True(await _call.ResponseStream.MoveNext(timeout.Token), "the EPP ended the stream");
        return _call.ResponseStream.Current;
    }

    /// <summary>Reads request-body replies until end_of_stream; returns the concatenated body and the piece sizes.</summary>
    public async Task<(byte[] Body, List<int> Pieces)> ReadRequestBody()
    {
        var ms = new MemoryStream();
        var pieces = new List<int>();
        while (true)
        {
            var r = await Next();
            Assert.Equal(ProcessingResponse.ResponseOneofCase.RequestBody, r.ResponseCase);
            var streamed = r.RequestBody.Response.BodyMutation.StreamedResponse;
            streamed.Body.WriteTo(ms);
            pieces.Add(streamed.Body.Length);
            if (streamed.EndOfStream)
                return (ms.ToArray(), pieces);
        }
    }

    /// <summary>True when the server ended the stream with OK and no further messages.</summary>
    public async Task<StatusCode> ReadEnd()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            Assert.False(await _call.ResponseStream.MoveNext(timeout.Token), "expected the stream to end");
            return _call.GetStatus().StatusCode;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    public static Dictionary<string, string> SetHeaders(CommonResponse response)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var h in response.HeaderMutation.SetHeaders)
        {
            Assert.True(h.Header.Value.Length == 0, "the EPP writes raw_value only");
            d.Add(h.Header.Key, Encoding.UTF8.GetString(h.Header.RawValue.Span));
        }
        return d;
    }

    public static Metadata SubsetHint(params string[] endpoints)
    {
        var list = new ListValue();
        foreach (var e in endpoints)
            list.Values.Add(Value.ForString(e));
        var ns = new Struct();
        ns.Fields["x-gateway-destination-endpoint-subset"] = Value.ForList(list.Values.ToArray());
        var md = new Metadata();
        md.FilterMetadata["envoy.lb.subset_hint"] = ns;
        return md;
    }

    public void Dispose() => _call.Dispose();
}
