using System.Net;
using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using Envoy.Type.V3;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FastEpp.Gateway.Tests;

/// <summary>What the fake EPP answers; set by each test.</summary>
internal sealed class FakeBehaviour
{
    /// <summary>x-gateway-destination-endpoint value.</summary>
    public string Destination { get; set; } = "";

    /// <summary>When set, the body is replaced by this (a "mutated" body the upstream must receive).</summary>
    public byte[]? ReplacementBody { get; set; }

    /// <summary>When set, answer an ImmediateResponse with this status and body instead of routing.</summary>
    public (int Status, string Body)? Immediate { get; set; }

    /// <summary>Request bodies the fake received, one per stream.</summary>
    public List<byte[]> ReceivedBodies { get; } = new();

    /// <summary>Request-header maps the fake received.</summary>
    public List<Dictionary<string, string>> ReceivedHeaders { get; } = new();

    /// <summary>Response body chunks received (count).</summary>
    public int ResponseChunks;

    /// <summary>Response trailers messages received.</summary>
    public int ResponseTrailers;
}

/// <summary>
/// A tiny ext_proc server that answers per ../../shared/spec/extproc.md §2: deferred request-headers response
/// (destination + Content-Length), request body streamed back in ≤62,000-byte chunks, response headers echoed with
/// x-went-into-resp-headers, response chunks echoed immediately, empty trailers reply.
/// </summary>
internal sealed class FakeExtProcService(FakeBehaviour behaviour) : ExternalProcessor.ExternalProcessorBase
{
    public override async Task Process(IAsyncStreamReader<ProcessingRequest> requestStream,
        IServerStreamWriter<ProcessingResponse> responseStream, ServerCallContext context)
    {
        var body = new MemoryStream();
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            ProcessingRequest m = requestStream.Current;
            switch (m.RequestCase)
            {
                case ProcessingRequest.RequestOneofCase.RequestHeaders:
                    var map = new Dictionary<string, string>();
                    foreach (HeaderValue h in m.RequestHeaders.Headers.Headers)
                        map[h.Key] = h.RawValue.ToStringUtf8();
                    lock (behaviour)
                        behaviour.ReceivedHeaders.Add(map);
                    if (m.RequestHeaders.EndOfStream)
                        await responseStream.WriteAsync(HeadersResponse(0));
                    break;
                case ProcessingRequest.RequestOneofCase.RequestBody:
                    m.RequestBody.Body.WriteTo(body);
                    if (!m.RequestBody.EndOfStream)
                        break;
                    lock (behaviour)
                        behaviour.ReceivedBodies.Add(body.ToArray());
                    if (behaviour.Immediate is { } imm)
                    {
                        await responseStream.WriteAsync(new ProcessingResponse
                        {
                            ImmediateResponse = new ImmediateResponse
                            {
                                Status = new HttpStatus { Code = (Envoy.Type.V3.StatusCode)imm.Status },
                                Body = ByteString.CopyFromUtf8(imm.Body),
                            },
                        });
                        return;
                    }
                    byte[] outBody = behaviour.ReplacementBody ?? body.ToArray();
                    await responseStream.WriteAsync(HeadersResponse(outBody.Length));
                    int off = 0;
                    do
                    {
                        int n = Math.Min(62_000, outBody.Length - off);
                        await responseStream.WriteAsync(BodyChunk(outBody.AsSpan(off, n), off + n == outBody.Length, response: false));
                        off += n;
                    }
                    while (off < outBody.Length);
                    break;
                case ProcessingRequest.RequestOneofCase.ResponseHeaders:
                    var mutation = new HeaderMutation();
                    mutation.SetHeaders.Add(Set("x-went-into-resp-headers", "true"));
                    await responseStream.WriteAsync(new ProcessingResponse
                    {
                        ResponseHeaders = new HeadersResponse { Response = new CommonResponse { HeaderMutation = mutation } },
                    });
                    break;
                case ProcessingRequest.RequestOneofCase.ResponseBody:
                    Interlocked.Increment(ref behaviour.ResponseChunks);
                    await responseStream.WriteAsync(BodyChunk(m.ResponseBody.Body.Span, m.ResponseBody.EndOfStream, response: true));
                    break;
                case ProcessingRequest.RequestOneofCase.ResponseTrailers:
                    Interlocked.Increment(ref behaviour.ResponseTrailers);
                    await responseStream.WriteAsync(new ProcessingResponse { ResponseTrailers = new TrailersResponse() });
                    break;
            }
        }
    }

    private ProcessingResponse HeadersResponse(int contentLength)
    {
        var mutation = new HeaderMutation();
        mutation.SetHeaders.Add(Set("x-gateway-destination-endpoint", behaviour.Destination));
        if (contentLength > 0)
            mutation.SetHeaders.Add(Set("Content-Length", contentLength.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        mutation.SetHeaders.Add(Set("x-fake-epp", "seen"));
        return new ProcessingResponse
        {
            RequestHeaders = new HeadersResponse
            {
                Response = new CommonResponse { ClearRouteCache = true, HeaderMutation = mutation },
            },
        };
    }

    private static ProcessingResponse BodyChunk(ReadOnlySpan<byte> bytes, bool eos, bool response)
    {
        var body = new BodyResponse
        {
            Response = new CommonResponse
            {
                BodyMutation = new BodyMutation
                {
                    StreamedResponse = new StreamedBodyResponse { Body = ByteString.CopyFrom(bytes), EndOfStream = eos },
                },
            },
        };
        return response ? new ProcessingResponse { ResponseBody = body } : new ProcessingResponse { RequestBody = body };
    }

    private static HeaderValueOption Set(string key, string value) =>
        new() { Header = new HeaderValue { Key = key, RawValue = ByteString.CopyFrom(Encoding.UTF8.GetBytes(value)) } };
}

/// <summary>Hosts <see cref="FakeExtProcService"/> on 127.0.0.1:0 over h2c.</summary>
internal sealed class FakeExtProcServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeExtProcServer(WebApplication app, FakeBehaviour behaviour, int port)
    {
        _app = app;
        Behaviour = behaviour;
        Address = "127.0.0.1:" + port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public FakeBehaviour Behaviour { get; }

    /// <summary>host:port.</summary>
    public string Address { get; }

    public static async Task<FakeExtProcServer> StartAsync()
    {
        var behaviour = new FakeBehaviour();
        WebApplicationBuilder b = WebApplication.CreateSlimBuilder();
        b.Logging.ClearProviders();
        ListenOptions? listen = null;
        b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, lo =>
        {
            lo.Protocols = HttpProtocols.Http2;
            listen = lo;
        }));
        b.Services.AddGrpc();
        b.Services.AddSingleton(behaviour);
        WebApplication app = b.Build();
        app.MapGrpcService<FakeExtProcService>();
        await app.StartAsync();
        return new FakeExtProcServer(app, behaviour, listen!.IPEndPoint!.Port);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
