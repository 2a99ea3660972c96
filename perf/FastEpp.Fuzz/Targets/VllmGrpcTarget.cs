using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FastEpp.Body;
using FastEpp.Parsers;
using FastEpp.Parsers.VllmGrpc;
using Google.Protobuf;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// The vllmgrpc-parser (Parsers/VllmGrpcParser, spec extproc.md §4.6–§4.7) on gRPC frames. The first input byte
/// picks the call and how the rest is framed (Generate or Embed; a well-formed frame around the rest, a compressed
/// flag, a length one too long, trailing bytes, or the rest as the raw body), so that mutations reach the message
/// decoder instead of only breaking the 5-byte header. Oracle: the frame rules read independently (header &lt; 5
/// bytes or a short message: "not able to parse payload"; flag 1: compressed) and a Google.Protobuf parse of the
/// same message bytes. Properties: accept/reject agrees with the oracle (a failing parse gives one of protobuf-go's
/// two texts); an accepted request has the oracle's stream flag, text (prefix input and prompt size) or token ids,
/// and an Embed request's prefix input is Go's encoding of its ids; whole and chunked bodies give the same result;
/// usage read from the same bytes as a response equals the oracle's (GenerateResponse counts, else EmbedResponse).
/// </summary>
internal sealed class VllmGrpcTarget : FuzzTarget
{
    private const string NotParsable = "not able to parse payload";
    private const string Compressed = "compressed vllmgrpc payload is not supported";
    private const string WireError = "proto: cannot parse invalid wire-format data";
    private const string Utf8Error = "proto: string field contains invalid UTF-8";

    private static readonly Dictionary<string, string> s_generate = new() { [Requests.HeaderNames.Path] = VllmGrpcParser.GeneratePath };
    private static readonly Dictionary<string, string> s_embed = new() { [Requests.HeaderNames.Path] = VllmGrpcParser.EmbedPath };

    private readonly VllmGrpcParser _parser = new("fuzz");
    private readonly ParsedRequest _whole = new();
    private readonly ParsedRequest _chunked = new();

    public override string Name => "vllm-grpc";

    public override string Property =>
        "accept/reject and error text agree with the frame rules + a Google.Protobuf parse; stream/text/token ids/Embed prefix input equal the oracle's; chunking-invariant; response usage equals the oracle's";

    public override IEnumerable<byte[]> ExtraSeeds()
    {
        yield return [0, .. new GenerateRequest { RequestId = "r1", Text = "Hello, world", Stream = true }.ToByteArray()];
        var tokenized = new GenerateRequest { RequestId = "r2", Tokenized = new TokenizedInput { OriginalText = "hi", InputIds = { 1, 2, 300, uint.MaxValue } } };
        tokenized.MmInputs = new MultimodalInputs { MmHashes = { "h" }, MmPlaceholders = { new PlaceholderRange { Offset = 1, Length = 2 } } };
        yield return [0, .. tokenized.ToByteArray()];
        yield return [1, .. new EmbedRequest { RequestId = "e", Tokenized = new TokenizedInput { InputIds = { 4, 5, 6 } } }.ToByteArray()];
        yield return [1, .. new EmbedRequest { RequestId = "e" }.ToByteArray()];
        yield return [0, .. new GenerateResponse { Chunk = new GenerateStreamChunk { TokenIds = { 7 }, PromptTokens = 3, CompletionTokens = 4, CachedTokens = 1 } }.ToByteArray()];
        yield return [0, .. new GenerateResponse { Complete = new GenerateComplete { FinishReason = "stop", PromptTokens = 9, CompletionTokens = uint.MaxValue } }.ToByteArray()];
        yield return [1, .. new EmbedResponse { Embedding = { 0.5f, 1f }, PromptTokens = 12, EmbeddingDim = 2 }.ToByteArray()];
        yield return [2, 0, 0, 0, 0, 3, 0x18, 0xff, 0x01];
    }

    /// <summary>The gRPC request body the first byte asks for (see the class comment).</summary>
    private static byte[] Body(byte mode, ReadOnlySpan<byte> rest)
    {
        if ((mode & 2) != 0)
            return rest.ToArray();
        int trailing = (mode & 8) != 0 ? Math.Min(3, rest.Length) : 0;
        var body = new byte[5 + rest.Length + trailing];
        body[0] = (mode & 4) != 0 ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(1), (uint)rest.Length + ((mode & 16) != 0 ? 1u : 0u));
        rest.CopyTo(body.AsSpan(5));
        rest[..trailing].CopyTo(body.AsSpan(5 + rest.Length));
        return body;
    }

    /// <summary>The frame rules read independently: the message bytes, or the problem text.</summary>
    private static string? OracleFrame(byte[] body, out byte[] message)
    {
        message = [];
        if (body.Length < 5)
            return NotParsable;
        long length = ((long)body[1] << 24) | ((long)body[2] << 16) | ((long)body[3] << 8) | body[4];
        if (body.Length - 5 < length)
            return NotParsable;
        if (body[0] == 1)
            return Compressed;
        message = body.AsSpan(5, (int)length).ToArray();
        return null;
    }

    private static string? OracleParse<T>(byte[] body, MessageParser<T> parser, out T? message) where T : class, IMessage<T>
    {
        message = null;
        if (OracleFrame(body, out byte[] bytes) is { } problem)
            return problem;
        try
        {
            message = parser.ParseFrom(bytes);
            return null;
        }
        catch (InvalidProtocolBufferException e)
        {
            return e.Message.Contains("UTF-8", StringComparison.Ordinal) ? Utf8Error : WireError;
        }
        catch (DecoderFallbackException)
        {
            return Utf8Error;
        }
    }

    public override int Run(byte[] input)
    {
        if (input.Length == 0)
            return 0;
        byte mode = input[0];
        bool embed = (mode & 1) != 0;
        byte[] body = Body(mode, input.AsSpan(1));
        var headers = embed ? s_embed : s_generate;

        _whole.Reset();
        _chunked.Reset();
        ParseStatus status = _parser.ParseRequest(new ReadOnlySequence<byte>(body), headers, _whole, out string? error);
        ParseStatus status2 = _parser.ParseRequest(Segments.Chop(body, mode), headers, _chunked, out string? error2);
        Check(status == status2 && error == error2, $"chunking changed the result: {status} '{error}' vs {status2} '{error2}'");
        Check((status == ParseStatus.Ok) == (error is null), $"status {status} with error '{error}'");
        Check(status is ParseStatus.Ok or ParseStatus.InvalidRequest, $"status {status}");
        if (status == ParseStatus.Ok)
            Check(Fields(_whole) == Fields(_chunked), $"chunking changed the fields: {Fields(_whole)} vs {Fields(_chunked)}");

        string? expected = embed ? ExpectEmbed(body, out string fields) : ExpectGenerate(body, out fields);
        Check(error == expected, $"error '{error}', oracle '{expected}'");
        if (expected is null)
            Check(Fields(_whole) == fields, $"fields {Fields(_whole)}, oracle {fields}");

        // The same bytes as a response body (buffered and as one streaming chunk).
        Usage buffered = default, streamed = default;
        _parser.ParseResponse(new ReadOnlySequence<byte>(body), ref buffered);
        _parser.ParseStreamingResponse(body, ref streamed);
        Usage oracleUsage = ExpectUsage(body);
        Check(Same(buffered, oracleUsage) && Same(streamed, oracleUsage),
            $"usage {Show(buffered)} / {Show(streamed)}, oracle {Show(oracleUsage)}");

        int sig = (int)status * 2 + (embed ? 1 : 0);
        if (error is not null)
            sig = sig * 131 + error.Length;
        return sig * 4 + (oracleUsage.Present ? 1 : 0) + (_whole.TokenIds.Length > 0 ? 2 : 0);
    }

    private static string? ExpectGenerate(byte[] body, out string fields)
    {
        const string prefix = "parsing gRPC payload for Generate: ";
        fields = "";
        if (OracleParse(body, GenerateRequest.Parser, out GenerateRequest? request) is { } problem)
            return prefix + problem;
        switch (request!.InputCase)
        {
            case GenerateRequest.InputOneofCase.Text:
                byte[] text = Encoding.UTF8.GetBytes(request.Text);
                fields = $"api={ApiKind.Completions} stream={request.Stream} prompt={text.Length} prefix={Convert.ToHexString(text)} ids=";
                return null;
            case GenerateRequest.InputOneofCase.Tokenized:
                fields = $"api={ApiKind.Completions} stream={request.Stream} prompt=0 prefix= ids={string.Join(',', request.Tokenized.InputIds)}";
                return null;
            default:
                return prefix + "not supported request inputType";
        }
    }

    private static string? ExpectEmbed(byte[] body, out string fields)
    {
        const string prefix = "parsing gRPC payload for Embed: ";
        fields = "";
        if (OracleParse(body, EmbedRequest.Parser, out EmbedRequest? request) is { } problem)
            return prefix + problem;
        if (request!.Tokenized is null)
            return prefix + "missing tokenized input in EmbedRequest";
        var ids = request.Tokenized.InputIds;
        // Go's encoding/json of the reference's EmbeddingsInput{TokenIDs: ids} (a nil slice is null).
        string go = "{\"Raw\":\"\",\"Strings\":null,\"TokenIDs\":" + (ids.Count == 0 ? "null" : "[" + string.Join(',', ids) + "]") + "}";
        fields = $"api={ApiKind.Embeddings} stream=False prompt=0 prefix={Convert.ToHexString(Encoding.UTF8.GetBytes(go))} ids={string.Join(',', ids)}";
        return null;
    }

    private static string Fields(ParsedRequest p) =>
        $"api={p.Api} stream={p.Stream} prompt={p.PromptCharsEstimate} prefix={Convert.ToHexString(p.RecordedPrefixInput)} ids={string.Join(',', p.TokenIds.ToArray())}";

    private static Usage ExpectUsage(byte[] body)
    {
        if (body.Length == 0)
            return default;
        if (OracleParse(body, GenerateResponse.Parser, out GenerateResponse? g) is null && g!.ResponseCase != GenerateResponse.ResponseOneofCase.None)
        {
            (uint p, uint c, uint k) = g.ResponseCase == GenerateResponse.ResponseOneofCase.Chunk
                ? (g.Chunk.PromptTokens, g.Chunk.CompletionTokens, g.Chunk.CachedTokens)
                : (g.Complete.PromptTokens, g.Complete.CompletionTokens, g.Complete.CachedTokens);
            if (p == 0 && c == 0)
                return default;
            return new Usage
            {
                PromptTokens = (int)Math.Min(p, int.MaxValue), CompletionTokens = (int)Math.Min(c, int.MaxValue),
                TotalTokens = (int)Math.Min((ulong)p + c, int.MaxValue), CachedTokens = (int)Math.Min(k, int.MaxValue),
                HasCachedTokens = true, Present = true,
            };
        }
        if (OracleParse(body, EmbedResponse.Parser, out EmbedResponse? e) is null && e!.PromptTokens > 0)
        {
            int prompt = (int)Math.Min(e.PromptTokens, int.MaxValue);
            return new Usage { PromptTokens = prompt, TotalTokens = prompt, Present = true };
        }
        return default;
    }

    private static bool Same(Usage a, Usage b) => Show(a) == Show(b);

    private static string Show(Usage u) =>
        u.Present ? $"{u.PromptTokens}/{u.CompletionTokens}/{u.TotalTokens}/{(u.HasCachedTokens ? u.CachedTokens : -1)}" : "none";
}
