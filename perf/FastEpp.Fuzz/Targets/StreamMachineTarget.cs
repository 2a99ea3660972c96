using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Scheduling;
using Google.Protobuf;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// The ext_proc state machine (ExtProc/StreamHandler) driven in process the way ExtProcService drives it:
/// each input byte picks the next event — request/response headers, body chunks (valid JSON pieces or
/// garbage, end of stream or not), trailers, an empty message, a cancel (the stream goes away), a
/// half-close — and a stream that ends (ImmediateResponse, protocol error, cancel) is reset and reused.
/// Properties: Handle never throws; every outbox message has a response set; ImmediateResponse only ends a
/// stream; after the last reset every endpoint's in-flight counter and the running-requests gauge are 0.
/// </summary>
internal sealed class StreamMachineTarget : FuzzTarget
{
    private static readonly string[] s_paths = ["/v1/completions", "/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/conversations", "/v1/models", "/x"];
    private static readonly string[] s_bodies =
    [
        "{\"model\":\"m\",\"prompt\":\"hello\"}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
        "{\"model\":\"m\",\"input\":\"x\"}",
        "{\"model\":\"m\",\"items\":[{\"type\":\"message\"}]}",
        "{\"prompt\":", "not json", "{\"model\":1,\"prompt\":[1,2,3]}", "null", "[]", "{\"model\":\"m\",\"prompt\":\"" + new string('a', 3000) + "\"}",
    ];
    private static readonly string[] s_responses =
    [
        "data: {\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n", "data: [DONE]\n\n",
        "{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}", "garbage", "",
    ];

    private readonly EndpointRegistry _registry = new();
    private readonly RequestServices _services;
    private readonly StreamHandler _handler;
    private readonly List<ProcessingResponse> _outbox = new();

    public StreamMachineTarget()
    {
        _registry.Publish([new Endpoint("ns/a-rank-0", "a", "10.0.0.1", 8000, 8000), new Endpoint("ns/b-rank-0", "b", "10.0.0.2", 8000, 8000)]);
        _services = new RequestServices { Registry = _registry, Scheduler = new RandomScheduler(), MaxRequestBodyBytes = 4096 };
        _handler = new StreamHandler(_services);
    }

    public override string Name => "stream-machine";

    public override string Property =>
        "random valid/invalid ext_proc message orders, cancels, half-closes: Handle never throws, replies well-formed, in-flight and running back to 0";

    public override IEnumerable<byte[]> ExtraSeeds()
    {
        // headers, body eos; response headers (SSE), body, eos body, trailers.
        yield return [0x00, 0x11, 0x23, 0x34, 0x44, 0x55];
        yield return [0x01, 0x12, 0x13, 0x20, 0x33, 0x45];
        yield return [0x00, 0x70, 0x00, 0x11, 0x80];
    }

    public override int Run(byte[] input)
    {
        int sig = 0;
        try
        {
            for (int i = 0; i < input.Length; i++)
            {
                byte b = input[i];
                int op = b >> 4, arg = b & 0xF;
                ProcessingRequest? message = op switch
                {
                    0 => RequestHeaders(arg),
                    1 => new ProcessingRequest { RequestBody = Body(s_bodies[arg % s_bodies.Length], arg, eos: arg >= 3) },
                    2 => new ProcessingRequest { RequestTrailers = new HttpTrailers() },
                    3 => ResponseHeaders(arg),
                    4 => new ProcessingRequest { ResponseBody = Body(s_responses[arg % s_responses.Length], arg, eos: arg >= 8) },
                    5 => new ProcessingRequest { ResponseTrailers = new HttpTrailers() },
                    6 => new ProcessingRequest(),
                    7 or 8 => null, // cancel / half-close: the service resets the handler
                    9 => new ProcessingRequest { RequestBody = Body(new string('z', 1500), arg, eos: arg >= 8) },
                    _ => new ProcessingRequest { RequestHeaders = new HttpHeaders { EndOfStream = arg >= 8, Headers = new HeaderMap() } },
                };
                if (message is null)
                {
                    _handler.Reset();
                    sig = sig * 5 + 4;
                    continue;
                }
                _outbox.Clear();
                var outcome = _handler.Handle(message, _outbox, out string? error);
                Check(outcome != StreamHandler.Outcome.AwaitAdmission, "admission wait without flow control");
                Check(outcome != StreamHandler.Outcome.ProtocolError || error is not null, "protocol error without a text");
                foreach (var reply in _outbox)
                {
                    Check(reply.ResponseCase != ProcessingResponse.ResponseOneofCase.None, $"an empty reply after {message.RequestCase}");
                    Check(reply.ResponseCase != ProcessingResponse.ResponseOneofCase.ImmediateResponse || outcome == StreamHandler.Outcome.EndOk,
                        $"an ImmediateResponse with outcome {outcome}");
                }
                sig = sig * 5 + (int)outcome;
                if (outcome is StreamHandler.Outcome.EndOk or StreamHandler.Outcome.ProtocolError)
                    _handler.Reset();
            }
        }
        finally
        {
            _handler.Reset();
        }
        foreach (var e in _registry.Current.Endpoints)
            Check(e.State.InFlight == 0, $"endpoint {e.Name} in-flight {e.State.InFlight} after every stream ended");
        Check(_services.Stats.Running == 0, $"running requests {_services.Stats.Running} after every stream ended");
        return sig & 0xFFFFF;
    }

    private static ProcessingRequest RequestHeaders(int arg)
    {
        var map = new HeaderMap();
        map.Headers.Add(new HeaderValue { Key = ":path", RawValue = ByteString.CopyFromUtf8(s_paths[arg % s_paths.Length]) });
        map.Headers.Add(new HeaderValue { Key = ":method", RawValue = ByteString.CopyFromUtf8(arg == 5 ? "GET" : "POST") });
        if (arg % 3 == 0)
            map.Headers.Add(new HeaderValue { Key = "x-request-id", RawValue = ByteString.CopyFromUtf8("r-" + arg) });
        if (arg == 9)
            map.Headers.Add(new HeaderValue { Key = "x-gateway-destination-endpoint-subset", Value = "10.0.0.2:8000,bad" });
        if (arg == 10)
            map.Headers.Add(new HeaderValue { Key = "content-length", Value = "notanumber" });
        return new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = map, EndOfStream = arg is 5 or 12 } };
    }

    private static ProcessingRequest ResponseHeaders(int arg)
    {
        var map = new HeaderMap();
        map.Headers.Add(new HeaderValue { Key = ":status", RawValue = ByteString.CopyFromUtf8(arg % 4 == 0 ? "500" : "200") });
        map.Headers.Add(new HeaderValue { Key = "content-type", RawValue = ByteString.CopyFromUtf8(arg % 2 == 0 ? "text/event-stream" : "application/json") });
        return new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = map, EndOfStream = arg == 15 } };
    }

    private static HttpBody Body(string text, int arg, bool eos)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        // Send a prefix or the whole piece: bodies also arrive split mid-token.
        int len = arg % 2 == 0 ? bytes.Length : bytes.Length * arg / 16;
        return new HttpBody { Body = ByteString.CopyFrom(bytes, 0, len), EndOfStream = eos };
    }
}
