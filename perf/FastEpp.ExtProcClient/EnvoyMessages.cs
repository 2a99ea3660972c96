using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace FastEpp.ExtProcClient;

/// <summary>
/// The <see cref="ProcessingRequest"/> messages Envoy sends to an ext_proc server with request/response header
/// mode SEND, body mode FULL_DUPLEX_STREAMED and trailer mode SEND (../../shared/spec/extproc.md §2): header maps
/// with <c>raw_value</c> only, body chunks with <c>end_of_stream</c> on the last one, trailers, and the
/// <c>envoy.lb</c> metadata (subset hint on the request, the endpoint actually used on the response).
/// </summary>
public static class EnvoyMessages
{
    /// <summary>The header the EPP sets with the chosen endpoint(s), primary first, comma-separated.</summary>
    public const string DestinationHeader = "x-gateway-destination-endpoint";
    /// <summary>Key in <see cref="LbNamespace"/> under which Envoy reports the endpoint it actually used.</summary>
    public const string DestinationServedKey = "x-gateway-destination-endpoint-served";
    /// <summary>Key in <see cref="SubsetHintNamespace"/> listing the endpoints the gateway allows (extproc.md §2.7).</summary>
    public const string SubsetKey = "x-gateway-destination-endpoint-subset";
    public const string LbNamespace = "envoy.lb";
    public const string SubsetHintNamespace = "envoy.lb.subset_hint";

    /// <summary>A header as Envoy sends it: the value in <c>raw_value</c> (extproc.md §1.3).</summary>
    public static HeaderValue Header(string key, string value) =>
        new() { Key = key, RawValue = ByteString.CopyFromUtf8(value) };

    public static HeaderMap Headers(params (string Key, string Value)[] headers)
    {
        var map = new HeaderMap();
        foreach (var (key, value) in headers)
            map.Headers.Add(Header(key, value));
        return map;
    }

    /// <summary>The request headers of an OpenAI-style POST through the gateway, in the order Envoy lists them.</summary>
    public static (string, string)[] ChatHeaders(string path = "/v1/chat/completions", string requestId = "req-1", params (string, string)[] extra) =>
        [(":method", "POST"), (":path", path), (":authority", "gateway"), (":scheme", "http"),
         ("content-type", "application/json"), ("x-request-id", requestId), .. extra];

    public static ProcessingRequest RequestHeaders(HeaderMap headers, bool endOfStream = false) =>
        new() { RequestHeaders = new HttpHeaders { Headers = headers, EndOfStream = endOfStream } };

    /// <summary>One request body chunk; Envoy attaches the subset-hint metadata to the message that ends the body.</summary>
    public static ProcessingRequest RequestBody(ByteString chunk, bool endOfStream, Metadata? metadata = null) =>
        new() { RequestBody = new HttpBody { Body = chunk, EndOfStream = endOfStream }, MetadataContext = metadata };

    public static ProcessingRequest ResponseHeaders(HeaderMap headers, Metadata? metadata = null, bool endOfStream = false) =>
        new() { ResponseHeaders = new HttpHeaders { Headers = headers, EndOfStream = endOfStream }, MetadataContext = metadata };

    public static ProcessingRequest ResponseBody(ByteString chunk, bool endOfStream) =>
        new() { ResponseBody = new HttpBody { Body = chunk, EndOfStream = endOfStream } };

    /// <summary>The (empty) response trailers Envoy sends in trailer mode SEND after the response body.</summary>
    public static ProcessingRequest ResponseTrailers() =>
        new() { ResponseTrailers = new HttpTrailers { Trailers = new HeaderMap() } };

    /// <summary>
    /// Cuts a body into the pieces Envoy would send, <paramref name="chunkBytes"/> each, the last one shorter.
    /// An empty body is one empty piece, so the body phase still ends with end_of_stream.
    /// </summary>
    public static ByteString[] Chunk(byte[] body, int chunkBytes)
    {
        if (body.Length == 0)
            return [ByteString.Empty];
        var chunks = new ByteString[(body.Length + chunkBytes - 1) / chunkBytes];
        for (int i = 0, offset = 0; offset < body.Length; i++, offset += chunkBytes)
            chunks[i] = ByteString.CopyFrom(body, offset, Math.Min(chunkBytes, body.Length - offset));
        return chunks;
    }

    /// <summary>The gateway's subset hint: only these endpoints may be picked (extproc.md §2.7).</summary>
    public static Metadata SubsetHint(params string[] endpoints)
    {
        var values = new Value[endpoints.Length];
        for (int i = 0; i < endpoints.Length; i++)
            values[i] = Value.ForString(endpoints[i]);
        var hint = new Struct();
        hint.Fields[SubsetKey] = Value.ForList(values);
        var metadata = new Metadata();
        metadata.FilterMetadata[SubsetHintNamespace] = hint;
        return metadata;
    }

    /// <summary>The LB metadata Envoy sends with the response headers: the endpoint it actually used.</summary>
    public static Metadata DestinationServed(string endpoint)
    {
        var lb = new Struct();
        lb.Fields[DestinationServedKey] = Value.ForString(endpoint);
        var metadata = new Metadata();
        metadata.FilterMetadata[LbNamespace] = lb;
        return metadata;
    }
}
