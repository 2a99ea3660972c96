using System.Buffers;
using System.Text.Json;

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
/// </summary>
internal static class OpenAiRequestParser
{
    public const string BodyMapErrorPrefix = "error unmarshaling request bodyMap: ";

    private const int MaxKeyRawBytes = 200;

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
            GoJsonText.Transcode(content, GoStringMode.Unquote, ref sink);
            return cache.Get(sink.Written);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent((int)Math.Min(max, int.MaxValue - 64));
        try
        {
            var sink = new SpanSink(rented);
            GoJsonText.Transcode(content, GoStringMode.Unquote, ref sink);
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

        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            Key key = ClassifyTopLevel(ref reader, st.Api);
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

    private static void HandleTopLevel(Key key, ref Utf8JsonReader reader, ref WalkState st)
    {
        ParsedRequest r = st.Result;
        JsonTokenType t = reader.TokenType;
        long start = reader.TokenStartIndex;
        switch (key)
        {
            case Key.Model:
                st.ModelIsString = t == JsonTokenType.String;
                if (st.ModelIsString)
                {
                    st.ModelStart = start;
                    st.ModelLength = RawLength(ref reader) + 2;
                }

                SkipValue(ref reader, ref st);
                return;
            case Key.Stream:
                r.Stream = t == JsonTokenType.True;
                SkipValue(ref reader, ref st);
                return;
            case Key.StreamOptions:
                st.IncludeUsage = false;
                if (t == JsonTokenType.StartObject)
                {
                    WalkStreamOptions(ref reader, ref st);
                    return;
                }

                SkipValue(ref reader, ref st);
                return;
            case Key.MaxTokens:
                r.MaxTokens = t == JsonTokenType.Number && reader.TryGetInt32(out int max) ? max : null;
                SkipValue(ref reader, ref st);
                return;
            case Key.CacheSalt:
                if (t == JsonTokenType.String)
                {
                    st.SaltStart = start;
                    st.SaltLength = RawLength(ref reader) + 2;
                }
                else if (t != JsonTokenType.Null)
                {
                    st.TypedError = true;
                }

                SkipValue(ref reader, ref st);
                return;
            case Key.Prompt:
                r.Prompt = WalkPromptLike(ref reader, ref st);
                return;
            case Key.EmbeddingsInput:
                r.Input = WalkPromptLike(ref reader, ref st);
                return;
            case Key.Messages:
                r.Messages = WalkMessages(ref reader, ref st);
                return;
            case Key.Items:
                r.Items = WalkItems(ref reader, ref st);
                return;
            case Key.ChatTools:
                ExpectKind(ref reader, ref st, JsonTokenType.StartArray);
                r.Tools = RangeOf(start, ref reader, t);
                return;
            case Key.Documents:
                ExpectKind(ref reader, ref st, JsonTokenType.StartArray);
                return;
            case Key.ChatTemplate:
                ExpectKind(ref reader, ref st, JsonTokenType.String);
                return;
            case Key.ChatBool:
                if (t is not (JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null))
                {
                    st.TypedError = true;
                }

                SkipValue(ref reader, ref st);
                return;
            case Key.ObjectField:
                ExpectKind(ref reader, ref st, JsonTokenType.StartObject);
                return;
            case Key.ResponsesInput:
                if (t == JsonTokenType.String)
                {
                    st.InputStringLength = UnquotedLength(ref reader);
                }

                SkipValue(ref reader, ref st);
                r.Input = RangeOf(start, ref reader, t);
                return;
            case Key.Instructions:
                SkipValue(ref reader, ref st);
                r.Instructions = RangeOf(start, ref reader, t);
                return;
            case Key.ResponsesTools:
                SkipValue(ref reader, ref st);
                r.Tools = RangeOf(start, ref reader, t);
                return;
            default:
                SkipValue(ref reader, ref st);
                return;
        }
    }

    /// <summary>Range of the value that started at <paramref name="start"/> and ends at the reader's position.</summary>
    private static ValueRange RangeOf(long start, ref Utf8JsonReader reader, JsonTokenType first) =>
        new(start, reader.BytesConsumed - start, KindOf(first));

    private static JsonValueKind KindOf(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => JsonValueKind.Object,
        JsonTokenType.StartArray => JsonValueKind.Array,
        JsonTokenType.String => JsonValueKind.String,
        JsonTokenType.Number => JsonValueKind.Number,
        JsonTokenType.True => JsonValueKind.True,
        JsonTokenType.False => JsonValueKind.False,
        _ => JsonValueKind.Null,
    };

    /// <summary>Typed target that accepts one JSON kind or null (string, bool-less slice, map, struct).</summary>
    private static void ExpectKind(ref Utf8JsonReader reader, ref WalkState st, JsonTokenType allowed)
    {
        JsonTokenType t = reader.TokenType;
        if (t != allowed && t != JsonTokenType.Null)
        {
            st.TypedError = true;
        }

        SkipValue(ref reader, ref st);
    }

    private static void WalkStreamOptions(ref Utf8JsonReader reader, ref WalkState st)
    {
        bool includeUsage = false;
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isIncludeUsage = KeyEquals(ref reader, "include_usage"u8, fold: false);
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

    /// <summary>
    /// Completions <c>prompt</c> / embeddings <c>input</c> (Go Prompt / EmbeddingsInput UnmarshalJSON):
    /// a string, or an array whose first element decides: all strings, or all numbers that are exact
    /// uint32 token ids. null, numbers, bools, objects and other arrays are errors.
    /// </summary>
    private static ValueRange WalkPromptLike(ref Utf8JsonReader reader, ref WalkState st)
    {
        ParsedRequest r = st.Result;
        JsonTokenType t = reader.TokenType;
        long start = reader.TokenStartIndex;
        if (t == JsonTokenType.String)
        {
            r.PromptStringLength = UnquotedLength(ref reader);
            ValueRange range = RangeOf(start, ref reader, t);
            r.PromptString = range;
            return range;
        }

        if (t != JsonTokenType.StartArray)
        {
            st.TypedError = true;
            SkipValue(ref reader, ref st);
            return RangeOf(start, ref reader, t);
        }

        PromptArrayKind kind = PromptArrayKind.Empty;
        int count = 0;
        long textLength = 0;
        reader.Read();
        while (reader.TokenType != JsonTokenType.EndArray)
        {
            JsonTokenType et = reader.TokenType;
            if (count == 0)
            {
                kind = et switch
                {
                    JsonTokenType.String => PromptArrayKind.Strings,
                    JsonTokenType.Number => PromptArrayKind.TokenIds,
                    _ => PromptArrayKind.None,
                };
                if (kind == PromptArrayKind.None)
                {
                    st.TypedError = true;
                }
            }

            if (kind == PromptArrayKind.Strings && et == JsonTokenType.String)
            {
                textLength += UnquotedLength(ref reader) + (count > 0 ? 1 : 0);
            }
            else if (kind == PromptArrayKind.TokenIds && et == JsonTokenType.Number)
            {
                if (!IsTokenId(ref reader))
                {
                    st.TypedError = true;
                }
            }
            else
            {
                st.TypedError = true;
            }

            count++;
            SkipValue(ref reader, ref st);
            reader.Read();
        }

        ValueRange arrayRange = RangeOf(start, ref reader, t);
        r.PromptArray = arrayRange;
        r.PromptArrayKind = kind;
        r.PromptArrayCount = count;
        r.PromptArrayTextLength = textLength;
        return arrayRange;
    }

    /// <summary>Go: <c>flt == float64(uint32(flt))</c> — an integral value in [0, 2^32-1].</summary>
    private static bool IsTokenId(ref Utf8JsonReader reader)
    {
        if (!TryGetFloat(ref reader, out double f))
        {
            return false;
        }

        return f >= 0 && f <= uint.MaxValue && Math.Floor(f) == f;
    }

    /// <summary>Chat <c>messages</c>: []Message, each {role string, content Content}.</summary>
    private static ValueRange WalkMessages(ref Utf8JsonReader reader, ref WalkState st)
    {
        ParsedRequest r = st.Result;
        JsonTokenType t = reader.TokenType;
        long start = reader.TokenStartIndex;
        int count = 0;
        long text = 0;
        r.MessageEntryCount = 0;
        r.BlockEntryCount = 0;
        if (t == JsonTokenType.StartArray)
        {
            reader.Read();
            while (reader.TokenType != JsonTokenType.EndArray)
            {
                JsonTokenType et = reader.TokenType;
                if (et == JsonTokenType.Null)
                {
                    r.AddMessage();
                }
                else if (et == JsonTokenType.StartObject)
                {
                    long plain = WalkMessage(ref reader, ref st);
                    if (plain > 0)
                    {
                        text += plain + 1;
                    }
                }
                else if (et != JsonTokenType.Null)
                {
                    st.TypedError = true;
                    SkipValue(ref reader, ref st);
                }

                count++;
                reader.Read();
            }
        }
        else
        {
            if (t != JsonTokenType.Null)
            {
                st.TypedError = true;
            }

            SkipValue(ref reader, ref st);
        }

        r.ElementCount = count;
        st.ChatTextLength = text;
        return RangeOf(start, ref reader, t);
    }

    /// <summary>One message object; returns the byte length of its plain text (Content.PlainText).</summary>
    private static long WalkMessage(ref Utf8JsonReader reader, ref WalkState st)
    {
        ParsedRequest r = st.Result;
        int entry = r.MessageEntryCount;
        r.AddMessage();
        long rawLength = 0;
        long structuredLength = 0;
        bool structured = false;
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            Key key = KeyEquals(ref reader, "role"u8, fold: true) ? Key.Role
                : KeyEquals(ref reader, "content"u8, fold: true) ? Key.Content
                : Key.Other;
            reader.Read();
            JsonTokenType t = reader.TokenType;
            if (key == Key.Role)
            {
                if (t == JsonTokenType.String)
                {
                    ref MessageEntry m = ref r.MessageEntries[entry];
                    m.RoleStart = reader.TokenStartIndex;
                    m.RoleLength = RawLength(ref reader);
                }

                ExpectKind(ref reader, ref st, JsonTokenType.String);
            }
            else if (key == Key.Content)
            {
                if (t == JsonTokenType.String)
                {
                    rawLength = UnquotedLength(ref reader);
                    ref MessageEntry m = ref r.MessageEntries[entry];
                    m.RawStart = reader.TokenStartIndex;
                    m.RawLength = RawLength(ref reader);
                }
                else if (t == JsonTokenType.Null)
                {
                    rawLength = 0;
                    r.MessageEntries[entry].RawLength = 0;
                }
                else if (t == JsonTokenType.StartArray)
                {
                    structured = true;
                    int first = r.BlockEntryCount;
                    structuredLength = WalkContentBlocks(ref reader, ref st);
                    ref MessageEntry m = ref r.MessageEntries[entry];
                    m.HasBlocks = true;
                    m.BlockFirst = first;
                    m.BlockCount = r.BlockEntryCount - first;
                }
                else
                {
                    st.TypedError = true;
                    SkipValue(ref reader, ref st);
                }
            }
            else
            {
                SkipValue(ref reader, ref st);
            }

            reader.Read();
        }

        return rawLength > 0 ? rawLength : structured ? structuredLength : 0;
    }

    /// <summary>[]ContentBlock; returns the plain-text length (text blocks: text + one space each).</summary>
    private static long WalkContentBlocks(ref Utf8JsonReader reader, ref WalkState st)
    {
        long length = 0;
        reader.Read();
        while (reader.TokenType != JsonTokenType.EndArray)
        {
            JsonTokenType et = reader.TokenType;
            if (et == JsonTokenType.StartObject)
            {
                length += WalkContentBlock(ref reader, ref st, st.Result.AddBlock());
            }
            else if (et == JsonTokenType.Null)
            {
                st.Result.AddBlock();
            }
            else
            {
                st.TypedError = true;
                SkipValue(ref reader, ref st);
            }

            reader.Read();
        }

        return length;
    }

    private static long WalkContentBlock(ref Utf8JsonReader reader, ref WalkState st, int block)
    {
        ParsedRequest r = st.Result;
        bool isText = false;
        long textLength = 0;
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            Key key = KeyEquals(ref reader, "type"u8, fold: true) ? Key.Type
                : KeyEquals(ref reader, "text"u8, fold: true) ? Key.Text
                : KeyEquals(ref reader, "image_url"u8, fold: true) ? Key.ImageBlock
                : KeyEquals(ref reader, "video_url"u8, fold: true) ? Key.VideoBlock
                : KeyEquals(ref reader, "input_audio"u8, fold: true) ? Key.AudioBlock
                : Key.Other;
            reader.Read();
            JsonTokenType t = reader.TokenType;
            switch (key)
            {
                case Key.Type:
                    if (t == JsonTokenType.String)
                    {
                        isText = StringEquals(ref reader, "text"u8);
                        ref BlockEntry b = ref r.Block(block);
                        b.TypeStart = reader.TokenStartIndex;
                        b.TypeLength = RawLength(ref reader);
                    }
                    else if (t != JsonTokenType.Null)
                    {
                        st.TypedError = true;
                    }

                    SkipValue(ref reader, ref st);
                    break;
                case Key.Text:
                    if (t == JsonTokenType.String)
                    {
                        textLength = UnquotedLength(ref reader);
                        ref BlockEntry b = ref r.Block(block);
                        b.TextStart = reader.TokenStartIndex;
                        b.TextLength = RawLength(ref reader);
                    }
                    else if (t != JsonTokenType.Null)
                    {
                        st.TypedError = true;
                    }

                    SkipValue(ref reader, ref st);
                    break;
                case Key.ImageBlock:
                case Key.VideoBlock:
                case Key.AudioBlock:
                    if (t == JsonTokenType.StartObject)
                    {
                        int which = key == Key.AudioBlock ? 4 : key == Key.ImageBlock ? 3 : 5;
                        WalkStringFields(ref reader, ref st, which, ref r.Block(block));
                    }
                    else
                    {
                        ExpectKind(ref reader, ref st, JsonTokenType.StartObject);
                    }

                    break;
                default:
                    SkipValue(ref reader, ref st);
                    break;
            }

            reader.Read();
        }

        return isText ? textLength + 1 : 0;
    }

    /// <summary>
    /// ImageBlock (3) / VideoBlock (5) {url} or AudioBlock (4) {data, format}: string-or-null fields; the
    /// last string of each is recorded (repeated sub-objects merge into the same struct, as in Go).
    /// </summary>
    private static void WalkStringFields(ref Utf8JsonReader reader, ref WalkState st, int which, ref BlockEntry b)
    {
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            int field = which == 4
                ? (KeyEquals(ref reader, "data"u8, fold: true) ? 1 : KeyEquals(ref reader, "format"u8, fold: true) ? 2 : 0)
                : (KeyEquals(ref reader, "url"u8, fold: true) ? 1 : 0);
            reader.Read();
            if (field > 0)
            {
                if (reader.TokenType == JsonTokenType.String)
                {
                    long start = reader.TokenStartIndex;
                    long length = RawLength(ref reader);
                    switch (which, field)
                    {
                        case (3, _):
                            b.ImageStart = start;
                            b.ImageLength = length;
                            break;
                        case (5, _):
                            b.VideoStart = start;
                            b.VideoLength = length;
                            break;
                        case (4, 1):
                            b.DataStart = start;
                            b.DataLength = length;
                            break;
                        default:
                            b.FormatStart = start;
                            b.FormatLength = length;
                            break;
                    }
                }

                ExpectKind(ref reader, ref st, JsonTokenType.String);
            }
            else
            {
                SkipValue(ref reader, ref st);
            }

            reader.Read();
        }
    }

    /// <summary>Conversations <c>items</c>: []ConversationItem {type, role string; content any}.</summary>
    private static ValueRange WalkItems(ref Utf8JsonReader reader, ref WalkState st)
    {
        JsonTokenType t = reader.TokenType;
        long start = reader.TokenStartIndex;
        int count = 0;
        if (t == JsonTokenType.StartArray)
        {
            reader.Read();
            while (reader.TokenType != JsonTokenType.EndArray)
            {
                JsonTokenType et = reader.TokenType;
                if (et == JsonTokenType.StartObject)
                {
                    reader.Read();
                    while (reader.TokenType == JsonTokenType.PropertyName)
                    {
                        bool typed = KeyEquals(ref reader, "type"u8, fold: true) || KeyEquals(ref reader, "role"u8, fold: true);
                        reader.Read();
                        if (typed)
                        {
                            ExpectKind(ref reader, ref st, JsonTokenType.String);
                        }
                        else
                        {
                            SkipValue(ref reader, ref st);
                        }

                        reader.Read();
                    }
                }
                else
                {
                    if (et != JsonTokenType.Null)
                    {
                        st.TypedError = true;
                    }

                    SkipValue(ref reader, ref st);
                }

                count++;
                reader.Read();
            }
        }
        else
        {
            if (t != JsonTokenType.Null)
            {
                st.TypedError = true;
            }

            SkipValue(ref reader, ref st);
        }

        st.Result.ElementCount = count;
        return RangeOf(start, ref reader, t);
    }

    /// <summary>
    /// Moves the reader to the last token of the current value, checking every number on the way
    /// (Go's map decode rejects numbers that overflow float64, wherever they are).
    /// </summary>
    private static void SkipValue(ref Utf8JsonReader reader, ref WalkState st)
    {
        JsonTokenType t = reader.TokenType;
        if (t == JsonTokenType.Number)
        {
            CheckNumber(ref reader, ref st);
            return;
        }

        if (t is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return;
        }

        int depth = reader.CurrentDepth;
        while (reader.Read())
        {
            t = reader.TokenType;
            if (t == JsonTokenType.Number)
            {
                CheckNumber(ref reader, ref st);
            }
            else if ((t == JsonTokenType.EndObject || t == JsonTokenType.EndArray) && reader.CurrentDepth == depth)
            {
                return;
            }
        }
    }

    private static void CheckNumber(ref Utf8JsonReader reader, ref WalkState st)
    {
        if (st.OverflowError is not null)
        {
            return;
        }

        if (!reader.HasValueSequence)
        {
            ReadOnlySpan<byte> span = reader.ValueSpan;
            // Without an exponent a float64 overflow needs more than 308 integer digits.
            if (span.Length < 300 && span.IndexOfAny((byte)'e', (byte)'E') < 0)
            {
                return;
            }
        }

        if (!TryGetFloat(ref reader, out _))
        {
            st.OverflowError = GoJsonSyntax.NumberOverflowError(reader.HasValueSequence
                ? reader.ValueSequence
                : new ReadOnlySequence<byte>(reader.ValueSpan.ToArray()));
        }
    }

    /// <summary>strconv.ParseFloat(s, 64) on the current number token; false on overflow.</summary>
    private static bool TryGetFloat(ref Utf8JsonReader reader, out double value)
    {
        if (!reader.HasValueSequence)
        {
            return GoJsonText.TryParseFloat(reader.ValueSpan, out value);
        }

        ReadOnlySequence<byte> seq = reader.ValueSequence;
        if (seq.Length <= 512)
        {
            Span<byte> buf = stackalloc byte[512];
            seq.CopyTo(buf);
            return GoJsonText.TryParseFloat(buf[..(int)seq.Length], out value);
        }

        byte[] rented = ArrayPool<byte>.Shared.Rent((int)seq.Length);
        try
        {
            seq.CopyTo(rented);
            return GoJsonText.TryParseFloat(rented.AsSpan(0, (int)seq.Length), out value);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static long RawLength(ref Utf8JsonReader reader) =>
        reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;

    private static long UnquotedLength(ref Utf8JsonReader reader) =>
        reader.HasValueSequence
            ? GoJsonText.UnquotedLength(reader.ValueSequence)
            : GoJsonText.UnquotedLength(reader.ValueSpan);

    /// <summary>The current string token's unescaped value equals <paramref name="expected"/> exactly.</summary>
    private static bool StringEquals(ref Utf8JsonReader reader, ReadOnlySpan<byte> expected)
    {
        Span<byte> buf = stackalloc byte[3 * 64];
        int n = TryGetSmallUnescaped(ref reader, buf);
        return n >= 0 && buf[..n].SequenceEqual(expected);
    }

    /// <summary>Compares the current property name (unescaped, Go semantics) with a known name.</summary>
    private static bool KeyEquals(ref Utf8JsonReader reader, ReadOnlySpan<byte> name, bool fold)
    {
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            ReadOnlySpan<byte> raw = reader.ValueSpan;
            return fold ? GoJsonText.FoldEquals(raw, name) : raw.SequenceEqual(name);
        }

        Span<byte> buf = stackalloc byte[3 * MaxKeyRawBytes];
        int n = TryGetSmallUnescaped(ref reader, buf);
        return n >= 0 && (fold ? GoJsonText.FoldEquals(buf[..n], name) : buf[..n].SequenceEqual(name));
    }

    /// <summary>Unescapes a short string/property token into <paramref name="buffer"/>; -1 when too long.</summary>
    private static int TryGetSmallUnescaped(ref Utf8JsonReader reader, scoped Span<byte> buffer)
    {
        long rawLength = RawLength(ref reader);
        if (rawLength * 3 > buffer.Length)
        {
            return -1;
        }

        var sink = new SpanSink(buffer);
        if (reader.HasValueSequence)
        {
            GoJsonText.Transcode(reader.ValueSequence, GoStringMode.Unquote, ref sink);
        }
        else
        {
            GoJsonText.Transcode(reader.ValueSpan, final: true, GoStringMode.Unquote, ref sink);
        }

        return sink.Overflow ? -1 : sink.Length;
    }

    private static Key ClassifyTopLevel(ref Utf8JsonReader reader, ApiKind api)
    {
        if (RawLength(ref reader) > MaxKeyRawBytes)
        {
            return Key.Other;
        }

        Span<byte> buf = stackalloc byte[3 * MaxKeyRawBytes];
        scoped ReadOnlySpan<byte> k;
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            k = reader.ValueSpan;
        }
        else
        {
            int n = TryGetSmallUnescaped(ref reader, buf);
            if (n < 0)
            {
                return Key.Other;
            }

            k = buf[..n];
        }

        // Exact keys: the reference reads these from the generic map.
        if (k.SequenceEqual("model"u8))
        {
            return Key.Model;
        }

        if (k.SequenceEqual("stream"u8))
        {
            return Key.Stream;
        }

        if (k.SequenceEqual("stream_options"u8))
        {
            return Key.StreamOptions;
        }

        if (k.SequenceEqual("max_tokens"u8) || k.SequenceEqual("max_completion_tokens"u8) || k.SequenceEqual("max_output_tokens"u8))
        {
            return Key.MaxTokens;
        }

        // Typed struct fields: Go matches them case-insensitively (foldName).
        if (GoJsonText.FoldEquals(k, "cache_salt"u8))
        {
            return Key.CacheSalt;
        }

        switch (api)
        {
            case ApiKind.Completions:
                return GoJsonText.FoldEquals(k, "prompt"u8) ? Key.Prompt : Key.Other;
            case ApiKind.Embeddings:
                return GoJsonText.FoldEquals(k, "input"u8) ? Key.EmbeddingsInput : Key.Other;
            case ApiKind.ChatCompletions:
                if (GoJsonText.FoldEquals(k, "messages"u8))
                {
                    return Key.Messages;
                }

                if (GoJsonText.FoldEquals(k, "tools"u8))
                {
                    return Key.ChatTools;
                }

                if (GoJsonText.FoldEquals(k, "documents"u8))
                {
                    return Key.Documents;
                }

                if (GoJsonText.FoldEquals(k, "chat_template"u8))
                {
                    return Key.ChatTemplate;
                }

                if (GoJsonText.FoldEquals(k, "return_assistant_tokens_mask"u8)
                    || GoJsonText.FoldEquals(k, "continue_final_message"u8)
                    || GoJsonText.FoldEquals(k, "add_generation_prompt"u8))
                {
                    return Key.ChatBool;
                }

                return GoJsonText.FoldEquals(k, "chat_template_kwargs"u8) ? Key.ObjectField : Key.Other;
            case ApiKind.Responses:
                if (GoJsonText.FoldEquals(k, "input"u8))
                {
                    return Key.ResponsesInput;
                }

                if (GoJsonText.FoldEquals(k, "instructions"u8))
                {
                    return Key.Instructions;
                }

                return GoJsonText.FoldEquals(k, "tools"u8) ? Key.ResponsesTools : Key.Other;
            case ApiKind.Conversations:
                if (GoJsonText.FoldEquals(k, "items"u8))
                {
                    return Key.Items;
                }

                return GoJsonText.FoldEquals(k, "metadata"u8) ? Key.ObjectField : Key.Other;
            default:
                return Key.Other;
        }
    }

    private enum Key
    {
        Other,
        Model,
        Stream,
        StreamOptions,
        MaxTokens,
        CacheSalt,
        Prompt,
        EmbeddingsInput,
        Messages,
        ChatTools,
        Documents,
        ChatTemplate,
        ChatBool,
        ObjectField,
        ResponsesInput,
        Instructions,
        ResponsesTools,
        Items,
        Role,
        Content,
        Type,
        Text,
        ImageBlock,
        VideoBlock,
        AudioBlock,
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
