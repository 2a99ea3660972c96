using System.Text;
using BenchmarkDotNet.Attributes;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using FastEpp.Endpoints;
using FastEpp.ExtProc;
using FastEpp.Requests;
using FastEpp.Scheduling;
using Google.Protobuf;

namespace FastEpp.Benchmarks.ExtProc;

/// <summary>
/// The EPP's own work for one request phase, in process (no sockets, no gRPC framing): headers,
/// body chunks of 31 KB, end_of_stream → headers reply + body pieces. This is the per-request CPU the
/// ext_proc layer adds on top of gRPC/Kestrel.
/// </summary>
[MemoryDiagnoser]
public class StreamHandlerBenchmarks
{
    private RequestServices _services = null!;
    private StreamHandler _handler = null!;
    private ProcessingRequest _headers = null!;
    private ProcessingRequest[] _chunks = null!;

    [Params(1024, 225_280)]
    public int BodyBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var registry = new EndpointRegistry();
        registry.Publish(Enumerable.Range(0, 8).Select(i => new Endpoint($"ns/p{i}-rank-0", $"p{i}", $"10.0.0.{i + 1}", 8000, 8000)).ToList());
        _services = new RequestServices { Registry = registry, Scheduler = new RandomScheduler() };
        _handler = new StreamHandler(_services);
        var map = new HeaderMap();
        foreach (var (k, v) in new[] { (":method", "POST"), (":path", "/v1/chat/completions"), (":authority", "gw"), ("content-type", "application/json"), ("x-request-id", "r") })
            map.Headers.Add(new HeaderValue { Key = k, RawValue = ByteString.CopyFromUtf8(v) });
        _headers = new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = map } };
        var body = BenchBody(BodyBytes);
        var chunks = new List<ProcessingRequest>();
        for (int o = 0; o < body.Length; o += 31 * 1024)
        {
            int n = Math.Min(31 * 1024, body.Length - o);
            chunks.Add(new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFrom(body, o, n), EndOfStream = o + n == body.Length } });
        }
        _chunks = chunks.ToArray();
    }

    private static byte[] BenchBody(int size)
    {
        var sb = new StringBuilder("{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"");
        while (sb.Length < size - 80)
            sb.Append("The quick brown fox jumps over the lazy dog. ");
        sb.Append("\"},{\"role\":\"user\",\"content\":\"Summarise.\"}]}");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    [Benchmark]
    public int RequestPhase()
    {
        var outbox = _handler.Outbox;
        outbox.Clear();
        _handler.Handle(_headers, outbox, out _);
        foreach (var c in _chunks)
            _handler.Handle(c, outbox, out _);
        int n = outbox.Count;
        _handler.Reset();
        return n;
    }
}
