using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FastEpp.Body;
using FastEpp.Configuration;
using FastEpp.Parsers.VllmGrpc;
using FastEpp.Scheduling;
using Google.Protobuf;

namespace FastEpp.Parsers;

/// <summary>
/// <c>vllmgrpc-parser</c> (spec extproc.md §4.6–§4.7): requests are vLLM gRPC calls, <c>:path</c>
/// <c>/vllm.grpc.engine.VllmEngine/Generate</c> or <c>/Embed</c>, whose body is one gRPC length-prefixed frame
/// (1-byte compressed flag, 4-byte big-endian length, the message) holding a GenerateRequest / EmbedRequest
/// (protos/vllm/grpc/engine/vllm_engine.proto). The body is forwarded byte-identical; there is no model handling;
/// <c>stream</c> (field 5) decides response streaming. Responses: usage from the first GenerateResponse frame of a
/// chunk (streaming) or of the body (buffered), else from an EmbedResponse. Serves only <c>kubernetes.io/h2c</c>.
/// </summary>
internal sealed class VllmGrpcParser(string name) : Plugin(name), IRequestParser
{
    /// <summary>Its EndpointPickerConfig type (no parameters).</summary>
    public static readonly PluginType Type = new("vllmgrpc-parser", static (n, _, _) => new VllmGrpcParser(n));

    public const string GeneratePath = "/vllm.grpc.engine.VllmEngine/Generate";
    public const string EmbedPath = "/vllm.grpc.engine.VllmEngine/Embed";

    private const int FrameHeaderLength = 5;
    private const string NotParsable = "not able to parse payload";
    private const string Compressed = "compressed vllmgrpc payload is not supported";
    // protobuf-go's text for wire-format errors (Google.Protobuf's own messages differ); see docs/compatibility.md.
    private const string GoWireFormatError = "proto: cannot parse invalid wire-format data";
    private const string GoInvalidUtf8 = "proto: string field contains invalid UTF-8";

    private static readonly string[] s_protocols = [AppProtocols.H2C];

    public override string TypeName => Type.Name;

    public IReadOnlyList<string> SupportedAppProtocols => s_protocols;

    public ParseStatus ParseRequest(in ReadOnlySequence<byte> body, IReadOnlyDictionary<string, string> headers, ParsedRequest into, out string? error)
    {
        headers.TryGetValue(Requests.HeaderNames.Path, out string? path);
        into.Format = BodyFormat.Protobuf;
        ReadOnlySpan<byte> data = body.IsSingleSegment ? body.FirstSpan : body.ToArray();
        switch (path)
        {
            case GeneratePath:
                error = ParseGenerate(data, into);
                break;
            case EmbedPath:
                error = ParseEmbed(data, into);
                break;
            default:
                error = "unsupported gRPC path: " + path;
                break;
        }
        return error is null ? ParseStatus.Ok : ParseStatus.InvalidRequest;
    }

    private static string? ParseGenerate(ReadOnlySpan<byte> data, ParsedRequest into)
    {
        const string prefix = "parsing gRPC payload for Generate: ";
        if (Decode(data, GenerateRequest.Parser, out GenerateRequest? request) is { } problem)
            return prefix + problem;
        into.Api = ApiKind.Completions;
        into.Stream = request!.Stream;
        switch (request.InputCase)
        {
            case GenerateRequest.InputOneofCase.Text:
                // A completions prompt: its plain text is the prompt text and the prefix-hash input.
                int length = Encoding.UTF8.GetByteCount(request.Text);
                Encoding.UTF8.GetBytes(request.Text, into.RecordPrefixInput(length));
                into.PromptCharsEstimate = length;
                return null;
            case GenerateRequest.InputOneofCase.Tokenized:
                // A token-id prompt: its plain text is "" (no approximate prefix hashing, as the reference); the ids are kept.
                CopyIds(request.Tokenized.InputIds, into);
                return null;
            default:
                return prefix + "not supported request inputType";
        }
    }

    private static string? ParseEmbed(ReadOnlySpan<byte> data, ParsedRequest into)
    {
        const string prefix = "parsing gRPC payload for Embed: ";
        if (Decode(data, EmbedRequest.Parser, out EmbedRequest? request) is { } problem)
            return prefix + problem;
        if (request!.Tokenized is null)
            return prefix + "missing tokenized input in EmbedRequest";
        into.Api = ApiKind.Embeddings;
        CopyIds(request.Tokenized.InputIds, into);
        WriteEmbeddingsPrefixInput(into);
        return null;
    }

    private static void CopyIds(Google.Protobuf.Collections.RepeatedField<uint> ids, ParsedRequest into)
    {
        Span<uint> target = into.RecordTokenIds(ids.Count);
        for (int i = 0; i < target.Length; i++)
            target[i] = ids[i];
    }

    /// <summary>
    /// The approximate-prefix input of an embeddings request is Go's default encoding of its EmbeddingsInput
    /// (spec §4.5): <c>{"Raw":"","Strings":null,"TokenIDs":[4,5,6]}</c> (<c>null</c> without ids).
    /// </summary>
    private static void WriteEmbeddingsPrefixInput(ParsedRequest into)
    {
        ReadOnlySpan<byte> head = "{\"Raw\":\"\",\"Strings\":null,\"TokenIDs\":"u8;
        ReadOnlySpan<uint> ids = into.TokenIds;
        int length = head.Length + 1 + (ids.IsEmpty ? 4 : 2 + ids.Length * 11);
        Span<byte> buffer = into.RecordPrefixInput(length);
        head.CopyTo(buffer);
        int n = head.Length;
        if (ids.IsEmpty)
        {
            "null"u8.CopyTo(buffer[n..]);
            n += 4;
        }
        else
        {
            buffer[n++] = (byte)'[';
            for (int i = 0; i < ids.Length; i++)
            {
                if (i > 0)
                    buffer[n++] = (byte)',';
                ids[i].TryFormat(buffer[n..], out int written, default, System.Globalization.CultureInfo.InvariantCulture);
                n += written;
            }
            buffer[n++] = (byte)']';
        }
        buffer[n++] = (byte)'}';
        into.RecordPrefixInput(n); // the exact length (the buffer keeps its bytes)
    }

    /// <summary>One frame at the start of <paramref name="data"/>: its message, or the reference's problem text.</summary>
    private static string? Frame(ReadOnlySpan<byte> data, out ReadOnlySpan<byte> message)
    {
        message = default;
        if (data.Length < FrameHeaderLength)
            return NotParsable;
        uint length = BinaryPrimitives.ReadUInt32BigEndian(data[1..]);
        if ((ulong)data.Length < FrameHeaderLength + (ulong)length)
            return NotParsable; // extra bytes after the frame are ignored
        if (data[0] == 1)
            return Compressed;
        message = data.Slice(FrameHeaderLength, (int)length);
        return null;
    }

    private static string? Decode<T>(ReadOnlySpan<byte> data, MessageParser<T> parser, out T? message) where T : class, IMessage<T>
    {
        message = null;
        if (Frame(data, out var bytes) is { } problem)
            return problem;
        try
        {
            message = parser.ParseFrom(bytes);
            return null;
        }
        catch (InvalidProtocolBufferException e)
        {
            return e.Message.Contains("UTF-8", StringComparison.Ordinal) ? GoInvalidUtf8 : GoWireFormatError;
        }
        catch (DecoderFallbackException)
        {
            return GoInvalidUtf8;
        }
    }

    public void ParseStreamingResponse(ReadOnlySpan<byte> chunk, ref Usage usage) => ParseUsage(chunk, ref usage);

    public void ParseResponse(in ReadOnlySequence<byte> body, ref Usage usage) =>
        ParseUsage(body.IsSingleSegment ? body.FirstSpan : body.ToArray(), ref usage);

    /// <summary>Usage from the first frame: a GenerateResponse chunk/complete with tokens, else an EmbedResponse.</summary>
    private static void ParseUsage(ReadOnlySpan<byte> data, ref Usage usage)
    {
        if (data.IsEmpty)
            return;
        if (Decode(data, GenerateResponse.Parser, out GenerateResponse? generate) is null && generate!.ResponseCase != GenerateResponse.ResponseOneofCase.None)
        {
            if (generate.ResponseCase == GenerateResponse.ResponseOneofCase.Chunk)
                SetUsage(generate.Chunk.PromptTokens, generate.Chunk.CompletionTokens, generate.Chunk.CachedTokens, ref usage);
            else
                SetUsage(generate.Complete.PromptTokens, generate.Complete.CompletionTokens, generate.Complete.CachedTokens, ref usage);
            return;
        }
        if (Decode(data, EmbedResponse.Parser, out EmbedResponse? embed) is null && (embed!.Embedding.Count > 0 || embed.PromptTokens > 0) && embed.PromptTokens > 0)
        {
            int prompt = Clamp(embed.PromptTokens);
            usage = new Usage { PromptTokens = prompt, CompletionTokens = 0, TotalTokens = prompt, Present = true };
        }
    }

    private static void SetUsage(uint prompt, uint completion, uint cached, ref Usage usage)
    {
        if (prompt == 0 && completion == 0)
            return; // streaming chunks carry no counts until the last one
        usage = new Usage
        {
            PromptTokens = Clamp(prompt),
            CompletionTokens = Clamp(completion),
            TotalTokens = Clamp((ulong)prompt + completion),
            CachedTokens = Clamp(cached),
            HasCachedTokens = true,
            Present = true,
        };
    }

    private static int Clamp(ulong v) => v > int.MaxValue ? int.MaxValue : (int)v;
}
