using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProcClient;
using FastEpp.Hosting;
using Grpc.Core;
using Grpc.Net.Client;
using Metadata = Envoy.Config.Core.V3.Metadata;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.ExtProc;

// The Envoy side of the protocol lives in perf/FastEpp.ExtProcClient (shared with the load generator and the
// gateway emulator); this file keeps what only the tests need: an in-process EPP and asserting wrappers.

/// <summary>An EPP started in-process on loopback (real Kestrel, real gRPC), plaintext.</summary>
internal sealed class EppServer : IAsyncDisposable
{
    public EppHost Host { get; }
    public GrpcChannel Channel { get; }

    private EppServer(EppHost host)
    {
        Host = host;
        Channel = ExtProcChannel.Create($"127.0.0.1:{host.GrpcPort}");
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

/// <summary>
/// One ext_proc stream driven the way Envoy does in FULL_DUPLEX_STREAMED mode (<see cref="ExtProcStream"/>), with
/// the tests' assertions: every read has a 30 s deadline and fails the test when the EPP ended the stream.
/// </summary>
internal sealed class EnvoyStream : IDisposable
{
    private static readonly TimeSpan s_readTimeout = TimeSpan.FromSeconds(30);

    private readonly ExtProcStream _stream;

    public EnvoyStream(AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> call) => _stream = new ExtProcStream(call);

    public static HeaderMap Headers(params (string Key, string Value)[] headers) => EnvoyMessages.Headers(headers);

    public static (string, string)[] ChatHeaders(string path = "/v1/chat/completions", params (string, string)[] extra) =>
        EnvoyMessages.ChatHeaders(path, "req-1", extra);

    public Task SendRequestHeaders(bool endOfStream = false, params (string, string)[] headers) =>
        _stream.SendRequestHeadersAsync(Headers(headers), endOfStream);

    public Task SendRequestBody(byte[] body, int chunkSize, Metadata? metadata = null) =>
        _stream.SendRequestBodyAsync(body, chunkSize, metadata);

    public Task Send(ProcessingRequest request) => _stream.SendAsync(request);

    public Task Complete() => _stream.CompleteAsync();

    public async Task<ProcessingResponse> Next()
    {
        using var timeout = new CancellationTokenSource(s_readTimeout);
        var reply = await _stream.ReadAsync(timeout.Token);
        Assert.True(reply is not null, "the EPP ended the stream");
        return reply;
    }

    /// <summary>Reads request-body replies until end_of_stream; returns the concatenated body and the piece sizes.</summary>
    public async Task<(byte[] Body, List<int> Pieces)> ReadRequestBody()
    {
        using var timeout = new CancellationTokenSource(s_readTimeout);
        var ms = new MemoryStream();
        var pieces = new List<int>();
        await _stream.ReadRequestBodyAsync((piece, _) =>
        {
            ms.Write(piece.Span);
            pieces.Add(piece.Length);
            return ValueTask.CompletedTask;
        }, timeout.Token);
        return (ms.ToArray(), pieces);
    }

    /// <summary>The status the server ended the stream with, once it sent no further messages.</summary>
    public async Task<StatusCode> ReadEnd()
    {
        using var timeout = new CancellationTokenSource(s_readTimeout);
        try
        {
            Assert.False(await _stream.Call.ResponseStream.MoveNext(timeout.Token), "expected the stream to end");
            return _stream.Call.GetStatus().StatusCode;
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

    public static Metadata SubsetHint(params string[] endpoints) => EnvoyMessages.SubsetHint(endpoints);

    public void Dispose() => _stream.Dispose();
}
