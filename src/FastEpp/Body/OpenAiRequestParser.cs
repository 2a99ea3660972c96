using System.Buffers;
using System.Text.Json;
using FastEpp.GoCompat;

namespace FastEpp.Body;

/// <summary>
/// The openai-parser's request side (spec extproc.md §4.1; reference
/// <c>pkg/epp/framework/plugins/requesthandling/parsers/openai/openai.go</c> ParseRequest and the typed
/// requests in <c>pkg/epp/framework/interface/requesthandling/types.go</c>, commit 1748e829).
/// One forward pass of <see cref="Utf8JsonReader"/> over the chunked body, no DOM, no copy, that
/// reproduces both Go decodes:
/// <list type="number">
/// <item>the generic <c>json.Unmarshal(body, &amp;map[string]any)</c>: syntax (Go text via
/// <see cref="GoJsonSyntax"/>, error path only), a top level that is not an object (<c>null</c> is fine),
/// a number that overflows float64;</item>
/// <item>the typed decode for the API: declared fields matched case-insensitively (Go foldName), JSON
/// null accepted wherever Go accepts it, any type mismatch in a declared field is a failure, then the
/// emptiness check. Any failure there gives the one per-API message, as in the reference.</item>
/// </list>
/// Keys read from the generic map (<c>model</c>, <c>stream</c>) match exactly; duplicate keys: last wins.
/// Invalid UTF-8 inside strings is accepted and read as U+FFFD, as Go does.
/// Files by phase: this one (entry, top level, result); <c>.Keys</c> (key classification tables);
/// <c>.Values</c> (skipping, number and kind checks, arrays of objects); <c>.Prompt</c> (completions prompt,
/// embeddings input); <c>.Chat</c> (messages and content blocks); <c>.Conversations</c> (items).
/// </summary>
internal static partial class OpenAiRequestParser
{
    public const string BodyMapErrorPrefix = "error unmarshaling request bodyMap: ";

    public static ReadOnlySpan<byte> ModelKey => "model"u8;

    /// <summary>The per-API validation text (reference extractRequestBody).</summary>
    public static string ValidationMessage(ApiKind api) => api switch
    {
        ApiKind.ChatCompletions => "invalid chat completions request: must have valid messages field",
        ApiKind.Responses => "invalid responses request: must have input field",
        ApiKind.Conversations => "invalid conversations request: must have items field",
        ApiKind.Embeddings => "invalid embeddings request: must have input field",
        _ => "invalid completions request: must have prompt field",
    };

    /// <summary>
    /// Parses and validates <paramref name="body"/> for <paramref name="api"/> into <paramref name="result"/>.
    /// Never throws; on failure <paramref name="errorMessage"/> is the reference's Msg text. A missing or
    /// non-string model is not a parser error (<see cref="ParsedRequest.HasModel"/> is false).
    /// </summary>
    public static ParseStatus Parse(in ReadOnlySequence<byte> body, ApiKind api, ParsedRequest result, out string? errorMessage)
    {
        result.Reset();
        result.Api = api;
        var st = new WalkState { Api = api, Result = result };
        bool syntaxFailed;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = GoJsonSyntax.MaxDepth });
            Walk(ref reader, ref st);
            syntaxFailed = false;
        }
        catch (JsonException)
        {
            syntaxFailed = true;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
        {
            // Defensive: treat as unreadable input; the Go scanner below decides the text.
            syntaxFailed = true;
        }

        if (syntaxFailed)
        {
            return SyntaxFailure(body, api, result, out errorMessage);
        }

        if (st.TopLevelTypeError is not null)
        {
            result.Reset();
            result.Api = api;
            errorMessage = BodyMapErrorPrefix + st.TopLevelTypeError;
            return ParseStatus.InvalidJson;
        }

        if (st.OverflowError is not null)
        {
            result.Reset();
            result.Api = api;
            errorMessage = BodyMapErrorPrefix + st.OverflowError;
            return ParseStatus.InvalidJson;
        }

        if (st.TypedError || !IsPopulated(result, api))
        {
            result.Reset();
            result.Api = api;
            errorMessage = ValidationMessage(api);
            return ParseStatus.InvalidRequest;
        }

        Finish(body, ref st);
        errorMessage = null;
        return ParseStatus.Ok;
    }

    private static ParseStatus SyntaxFailure(in ReadOnlySequence<byte> body, ApiKind api, ParsedRequest result, out string errorMessage)
    {
        result.Reset();
        result.Api = api;
        // Utf8JsonReader and Go's scanner accept the same language; if they ever disagree the reader's
        // rejection still stands and the text says so rather than inventing a Go message.
        string? goText = GoJsonSyntax.Describe(body);
        errorMessage = BodyMapErrorPrefix + (goText ?? "invalid JSON input");
        return ParseStatus.InvalidJson;
    }

    private static bool IsPopulated(ParsedRequest r, ApiKind api) => api switch
    {
        ApiKind.ChatCompletions => r.ElementCount > 0,
        ApiKind.Conversations => r.ElementCount > 0,
        ApiKind.Responses => r.Input.IsNonNull,
        // Prompt.IsEmpty: Raw == "" && no Strings && no TokenIDs.
        _ => r.PromptStringLength > 0 || r.PromptArrayCount > 0,
    };

    private static void Finish(in ReadOnlySequence<byte> body, ref WalkState st)
    {
        ParsedRequest r = st.Result;
        if (st.ModelIsString)
        {
            Utf8InternCache.Entry e = Intern(body, st.ModelStart, st.ModelLength, Utf8InternCache.Models);
            r.HasModel = true;
            r.Model = e.Value;
            r.ModelUtf8 = e.Utf8;
            r.ModelValueOffset = st.ModelStart;
            r.ModelValueLength = (int)st.ModelLength;
        }

        // An empty cache_salt is the same as none for the reference (CacheSalt() == "").
        if (st.SaltLength > 2)
        {
            Utf8InternCache.Entry e = Intern(body, st.SaltStart, st.SaltLength, Utf8InternCache.Salts);
            r.CacheSalt = e.Value;
            r.CacheSaltUtf8 = e.Utf8;
        }

        r.HasStreamOptionsIncludeUsage = st.IncludeUsage;
        r.PromptCharsEstimate = st.Api switch
        {
            ApiKind.ChatCompletions => st.ChatTextLength,
            ApiKind.Responses => r.Input.Kind == JsonValueKind.String ? st.InputStringLength : r.Input.Length,
            ApiKind.Conversations => r.Items.Length,
            _ => r.PromptStringLength > 0 ? r.PromptStringLength
                : r.PromptArrayKind == PromptArrayKind.Strings ? r.PromptArrayTextLength : 0,
        };
    }

    /// <summary>Unescapes the string token at [start, start+length) (quotes included) and interns it.</summary>
    private static Utf8InternCache.Entry Intern(in ReadOnlySequence<byte> body, long start, long length, Utf8InternCache cache)
    {
        ReadOnlySequence<byte> content = body.Slice(start + 1, length - 2);
        long max = content.Length * 3;
        if (max <= 768)
        {
            Span<byte> buf = stackalloc byte[768];
            var sink = new SpanSink(buf);
            GoJsonString.Transcode(content, GoStringMode.Unquote, ref sink);
            return cache.Get(sink.Written);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent((int)Math.Min(max, int.MaxValue - 64));
        try
        {
            var sink = new SpanSink(rented);
            GoJsonString.Transcode(content, GoStringMode.Unquote, ref sink);
            return cache.Get(sink.Written);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static void Walk(ref Utf8JsonReader reader, ref WalkState st)
    {
        if (!reader.Read())
        {
            // Empty input: the reader throws for it, but stay safe if it ever does not.
            throw new JsonException();
        }

        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                break;
            case JsonTokenType.Null:
                // Go: null into a map leaves it nil without error; the typed decode then finds nothing.
                DrainToEnd(ref reader);
                return;
            default:
                string kind = reader.TokenType switch
                {
                    JsonTokenType.StartArray => "array",
                    JsonTokenType.String => "string",
                    JsonTokenType.Number => "number",
                    _ => "bool",
                };
                reader.Skip();
                DrainToEnd(ref reader);
                st.TopLevelTypeError = GoJsonSyntax.TopLevelTypeError(kind);
                return;
        }

        GoKeyTable<TopKey> keys = s_topKeys[(int)st.Api];
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            TopKey key = keys.Classify(ref reader);
            reader.Read();
            HandleTopLevel(key, ref reader, ref st);
            reader.Read();
        }

        DrainToEnd(ref reader);
    }

    /// <summary>Reads past the top-level value; the reader throws if anything but whitespace follows.</summary>
    private static void DrainToEnd(ref Utf8JsonReader reader)
    {
        while (reader.Read())
        {
        }
    }

    private static void HandleTopLevel(TopKey key, ref Utf8JsonReader reader, ref WalkState st)
    {
        ParsedRequest r = st.Result;
        JsonTokenType t = reader.TokenType;
        long start = reader.TokenStartIndex;
        switch (key)
        {
            case TopKey.Model:
                st.ModelIsString = t == JsonTokenType.String;
                if (st.ModelIsString)
                {
                    st.ModelStart = start;
                    st.ModelLength = GoJsonReader.RawLength(ref reader) + 2;
                }

                SkipValue(ref reader, ref st);
                return;
            case TopKey.Stream:
                r.Stream = t == JsonTokenType.True;
                SkipValue(ref reader, ref st);
                return;
            case TopKey.StreamOptions:
                st.IncludeUsage = false;
                if (t == JsonTokenType.StartObject)
                {
                    WalkStreamOptions(ref reader, ref st);
                    return;
                }

                SkipValue(ref reader, ref st);
                return;
            case TopKey.MaxTokens:
                r.MaxTokens = t == JsonTokenType.Number && reader.TryGetInt32(out int max) ? max : null;
                SkipValue(ref reader, ref st);
                return;
            case TopKey.CacheSalt:
                if (t == JsonTokenType.String)
                {
                    st.SaltStart = start;
                    st.SaltLength = GoJsonReader.RawLength(ref reader) + 2;
                }
                else if (t != JsonTokenType.Null)
                {
                    st.TypedError = true;
                }

                SkipValue(ref reader, ref st);
                return;
            case TopKey.Prompt:
                r.Prompt = WalkPromptLike(ref reader, ref st);
                return;
            case TopKey.EmbeddingsInput:
                r.Input = WalkPromptLike(ref reader, ref st);
                return;
            case TopKey.Messages:
                r.Messages = WalkMessages(ref reader, ref st);
                return;
            case TopKey.Items:
                r.Items = WalkObjectArray(ref reader, ref st, ArrayElement.ConversationItem, out _);
                return;
            case TopKey.ChatTools:
                ExpectKind(ref reader, ref st, JsonTokenType.StartArray);
                r.Tools = RangeOf(start, ref reader, t);
                return;
            case TopKey.Documents:
                ExpectKind(ref reader, ref st, JsonTokenType.StartArray);
                return;
            case TopKey.ChatTemplate:
                ExpectKind(ref reader, ref st, JsonTokenType.String);
                return;
            case TopKey.ChatBool:
                if (t is not (JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null))
                {
                    st.TypedError = true;
                }

                SkipValue(ref reader, ref st);
                return;
            case TopKey.ObjectField:
                ExpectKind(ref reader, ref st, JsonTokenType.StartObject);
                return;
            case TopKey.ResponsesInput:
                if (t == JsonTokenType.String)
                {
                    st.InputStringLength = GoJsonReader.UnquotedLength(ref reader);
                }

                SkipValue(ref reader, ref st);
                r.Input = RangeOf(start, ref reader, t);
                return;
            case TopKey.Instructions:
                SkipValue(ref reader, ref st);
                r.Instructions = RangeOf(start, ref reader, t);
                return;
            case TopKey.ResponsesTools:
                SkipValue(ref reader, ref st);
                r.Tools = RangeOf(start, ref reader, t);
                return;
            default:
                SkipValue(ref reader, ref st);
                return;
        }
    }
    private static void WalkStreamOptions(ref Utf8JsonReader reader, ref WalkState st)
    {
        bool includeUsage = false;
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isIncludeUsage = s_streamOptionsKeys.Classify(ref reader);
            reader.Read();
            if (isIncludeUsage)
            {
                includeUsage = reader.TokenType == JsonTokenType.True;
            }

            SkipValue(ref reader, ref st);
            reader.Read();
        }

        st.IncludeUsage = includeUsage;
    }

    /// <summary>Transient state of one parse (what is not an output field of <see cref="ParsedRequest"/>).</summary>
    private struct WalkState
    {
        public ApiKind Api;
        public ParsedRequest Result;
        public bool TypedError;
        public string? TopLevelTypeError;
        public string? OverflowError;
        public bool ModelIsString;
        public long ModelStart;
        public long ModelLength;
        public long SaltStart;
        public long SaltLength;
        public bool IncludeUsage;
        public long ChatTextLength;
        public long InputStringLength;

        public WalkState()
        {
            Api = ApiKind.Completions;
            Result = null!;
            SaltLength = -1;
        }
    }
}
