using System.Buffers;
using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using Envoy.Type.V3;
using FastEpp.Requests;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;

namespace FastEpp.ExtProc;

/// <summary>Builds the ProcessingResponse messages of spec extproc.md §2.4–§2.10.</summary>
internal static class ResponseBuilder
{
    /// <summary>Largest body piece per message (the reference's bufio chunk size).</summary>
    public const int MaxBodyChunk = 62_000;

    private static readonly ByteString s_true = ByteString.CopyFromUtf8("true");

    /// <summary>Header keys the EPP owns and never echoes (spec §2.4.1 item 4).</summary>
    private static readonly HashSet<string> s_systemOwned = new(StringComparer.Ordinal)
    {
        HeaderNames.FairnessId, HeaderNames.InferenceObjective, HeaderNames.ModelNameRewrite,
        HeaderNames.DestinationEndpointSubset, HeaderNames.DestinationEndpoint,
        HeaderNames.DestinationEndpointServed, HeaderNames.ContentLength,
    };

    public static HeaderValueOption Header(string key, ByteString rawValue) =>
        new() { Header = new HeaderValue { Key = key, RawValue = rawValue } };

    public static HeaderValueOption Header(string key, string value) =>
        Header(key, ByteString.CopyFromUtf8(value));

    /// <summary>The request-headers reply: clear_route_cache, set_headers, dynamic metadata envoy.lb.</summary>
    public static ProcessingResponse RequestHeaders(HeaderMutation mutation, string destination) => new()
    {
        RequestHeaders = new HeadersResponse
        {
            Response = new CommonResponse { ClearRouteCache = true, HeaderMutation = mutation },
        },
        DynamicMetadata = LbMetadata(destination),
    };

    public static Struct LbMetadata(string destination)
    {
        var lb = new Struct();
        lb.Fields[HeaderNames.DestinationEndpoint] = Value.ForString(destination);
        var root = new Struct();
        root.Fields[HeaderNames.LbMetadataNamespace] = Value.ForStruct(lb);
        return root;
    }

    public static ProcessingResponse ResponseHeaders(HeaderMutation mutation) => new()
    {
        ResponseHeaders = new HeadersResponse { Response = new CommonResponse { HeaderMutation = mutation } },
    };

    public static HeaderValueOption WentIntoResponseHeaders() => Header(HeaderNames.WentIntoResponseHeaders, s_true);

    public static ProcessingResponse RequestBody(ByteString chunk, bool endOfStream) => new()
    {
        RequestBody = new BodyResponse { Response = StreamedBody(chunk, endOfStream) },
    };

    public static ProcessingResponse ResponseBody(ByteString chunk, bool endOfStream) => new()
    {
        ResponseBody = new BodyResponse { Response = StreamedBody(chunk, endOfStream) },
    };

    private static CommonResponse StreamedBody(ByteString chunk, bool endOfStream) => new()
    {
        BodyMutation = new BodyMutation
        {
            StreamedResponse = new StreamedBodyResponse { Body = chunk, EndOfStream = endOfStream },
        },
    };

    public static ProcessingResponse RequestTrailers() => new() { RequestTrailers = new TrailersResponse() };

    public static ProcessingResponse ResponseTrailers() => new() { ResponseTrailers = new TrailersResponse() };

    public static ProcessingResponse Immediate(InferenceError error) => new()
    {
        ImmediateResponse = new ImmediateResponse
        {
            Status = new HttpStatus { Code = error.HttpStatus },
            Body = ByteString.CopyFromUtf8(error.ToString()),
        },
    };

    /// <summary>
    /// Cuts <paramref name="body"/> into ≤ 62,000-byte pieces (spec §2.4.3). A piece inside one received
    /// chunk is wrapped without copying (the received ByteStrings are immutable); a piece spanning
    /// chunks is copied once. An empty body yields one empty piece. <paramref name="lastEndOfStream"/>
    /// goes on the last piece only.
    /// </summary>
    public static void AddBodyPieces(List<ProcessingResponse> outbox, ReadOnlySequence<byte> body, bool lastEndOfStream, bool request)
    {
        if (body.IsEmpty)
        {
            outbox.Add(request ? RequestBody(ByteString.Empty, lastEndOfStream) : ResponseBody(ByteString.Empty, lastEndOfStream));
            return;
        }
        while (!body.IsEmpty)
        {
            long n = Math.Min(body.Length, MaxBodyChunk);
            var piece = body.Slice(0, n);
            ByteString bytes = piece.IsSingleSegment
                ? UnsafeByteOperations.UnsafeWrap(piece.First)
                : ByteString.CopyFrom(piece.ToArray());
            body = body.Slice(n);
            bool eos = body.IsEmpty && lastEndOfStream;
            outbox.Add(request ? RequestBody(bytes, eos) : ResponseBody(bytes, eos));
        }
    }

    /// <summary>Echoes every header whose lowercase key is not system-owned, reusing the received bytes (§2.4.1, §2.6).</summary>
    public static void AddEchoedHeaders(HeaderMutation mutation, Dictionary<string, HeaderValue> headers)
    {
        foreach (var (key, value) in headers)
            if (!s_systemOwned.Contains(key.ToLowerInvariant()))
                mutation.SetHeaders.Add(Header(key, value.RawValue.Length > 0 ? value.RawValue : ByteString.CopyFromUtf8(value.Value)));
    }

    public static string ReadValue(HeaderValue h) =>
        h.RawValue.Length > 0 ? Encoding.UTF8.GetString(h.RawValue.Span) : h.Value;
}
