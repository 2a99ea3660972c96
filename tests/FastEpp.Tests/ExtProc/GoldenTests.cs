using System.Text;
using Envoy.Service.ExtProc.V3;
using Google.Protobuf;

namespace FastEpp.Tests.ExtProc;

/// <summary>
/// Byte-exact outputs for fixed inputs, written down as protobuf JSON (field order = emission order)
/// so a change in what the gateway sees shows up as a readable diff.
/// </summary>
public sealed class GoldenTests
{
    private static readonly JsonFormatter s_json = new(JsonFormatter.Settings.Default.WithPreserveProtoFieldNames(true));

    [Fact]
    public async Task RequestPhase_Golden()
    {
        await using var epp = await EppServer.StartAsync("10.1.2.3:8000", "--tracing=false") /* reference tests run without tracing */;
        var body = Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"hello\"}");
        using var s = epp.Open();
        await s.SendRequestHeaders(false, (":method", "POST"), (":path", "/v1/completions"), ("x-request-id", "r1"),
            ("x-gateway-inference-fairness-id", "team-a"), ("content-length", "31"));
        await s.SendRequestBody(body, 10);
        Assert.Equal(
            "{ \"request_headers\": { \"response\": { \"header_mutation\": { \"set_headers\": [ " +
            "{ \"header\": { \"key\": \"x-gateway-destination-endpoint\", \"raw_value\": \"MTAuMS4yLjM6ODAwMA==\" } }, " +
            "{ \"header\": { \"key\": \"Content-Length\", \"raw_value\": \"MzA=\" } }, " +
            "{ \"header\": { \"key\": \":method\", \"raw_value\": \"UE9TVA==\" } }, " +
            "{ \"header\": { \"key\": \":path\", \"raw_value\": \"L3YxL2NvbXBsZXRpb25z\" } }, " +
            "{ \"header\": { \"key\": \"x-request-id\", \"raw_value\": \"cjE=\" } } ] }, " +
            "\"clear_route_cache\": true } }, " +
            "\"dynamic_metadata\": { \"envoy.lb\": { \"x-gateway-destination-endpoint\": \"10.1.2.3:8000\" } } }",
            s_json.Format(await s.Next()));
        Assert.Equal(
            "{ \"request_body\": { \"response\": { \"body_mutation\": { \"streamed_response\": { " +
            "\"body\": \"eyJtb2RlbCI6Im0iLCJwcm9tcHQiOiJoZWxsbyJ9\", \"end_of_stream\": true } } } } }",
            s_json.Format(await s.Next()));
    }

    [Fact]
    public async Task ImmediateResponse_Golden()
    {
        await using var epp = await EppServer.StartAsync("10.1.2.3:8000", "--tracing=false") /* reference tests run without tracing */;
        using var s = epp.Open();
        await s.SendRequestHeaders(false, (":path", "/v1/completions"));
        await s.SendRequestBody("{\"prompt\":\"x\"}"u8.ToArray(), 100);
        Assert.Equal(
            "{ \"immediate_response\": { \"status\": { \"code\": \"BadRequest\" }, " +
            "\"body\": \"aW5mZXJlbmNlIGVycm9yOiBCYWRSZXF1ZXN0IC0gbW9kZWwgbm90IGZvdW5kIGluIHJlcXVlc3QgYm9keQ==\" } }",
            s_json.Format(await s.Next()));
    }

    [Fact]
    public async Task ResponseHeaders_Golden()
    {
        await using var epp = await EppServer.StartAsync("10.1.2.3:8000", "--tracing=false") /* reference tests run without tracing */;
        using var s = epp.Open();
        await s.SendRequestHeaders(true, (":method", "GET"), ("x-request-id", "r1"));
        await s.Next();
        await s.Send(new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = EnvoyStream.Headers((":status", "200"), ("content-length", "2")) } });
        Assert.Equal(
            "{ \"response_headers\": { \"response\": { \"header_mutation\": { \"set_headers\": [ " +
            "{ \"header\": { \"key\": \"x-went-into-resp-headers\", \"raw_value\": \"dHJ1ZQ==\" } }, " +
            "{ \"header\": { \"key\": \":status\", \"raw_value\": \"MjAw\" } } ] } } } }",
            s_json.Format(await s.Next()));
    }
}
