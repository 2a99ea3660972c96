using System.Buffers;
using System.Text.Json;
using FastEpp.GoCompat;
using static FastEpp.GoCompat.GoKeyMatch;

namespace FastEpp.Body;

/// <summary>Token usage reported by the model server (reference fwkrh.Usage).</summary>
internal struct Usage
{
    public int PromptTokens;
    public int CompletionTokens;
    public int TotalTokens;
    public int CachedTokens;
    /// <summary>The usage carried <c>prompt_token_details</c> (the reference records cached tokens only then).</summary>
    public bool HasCachedTokens;

    /// <summary>A usage object was found (its counters may all be zero).</summary>
    public bool Present;
}

/// <summary>
/// The openai-parser's response side (spec extproc.md §4.6; reference <c>openai.go</c> ParseResponse,
/// extractUsage, extractUsageByAPIType, extractUsageStreaming). Allocation-free; never throws.
/// Deviations: where Go would panic (a non-object <c>usage</c> / <c>prompt_token_details</c>, or a
/// non-number counter in the map-based paths) the value is treated as absent instead; counters are
/// clamped to the int range; the SSE path decodes each line with fresh state (Go reuses one struct
/// across the lines of a chunk, so a failed line can leak fields into the next).
/// </summary>
internal static class UsageParser
{
    /// <summary>
    /// Escaped names and values longer than this many raw bytes never match (they are unescaped into a
    /// 256-byte buffer).
    /// </summary>
    private const int MaxNameRawBytes = 256 / 3;

    // Key classification (first matching row wins). Map keys match exactly, Go struct fields case-insensitively.

    /// <summary>Non-streaming body, decoded as map[string]any.</summary>
    private static readonly GoKeyTable<UsageKey> s_bodyKeys = new(
        UsageKey.Other, MaxNameRawBytes, ("usage", Exact, UsageKey.Usage), ("object", Exact, UsageKey.Object));

    /// <summary>SSE data line: Go's streamResponse struct.</summary>
    private static readonly GoKeyTable<UsageKey> s_streamLineKeys = new(
        UsageKey.Other, MaxNameRawBytes, ("usage", Fold, UsageKey.Usage), ("response", Fold, UsageKey.Response), ("type", Fold, UsageKey.Type));

    /// <summary>streamResponse.response: {usage map[string]any, object string}.</summary>
    private static readonly GoKeyTable<UsageKey> s_responseKeys = new(
        UsageKey.Other, MaxNameRawBytes, ("usage", Fold, UsageKey.Usage), ("object", Fold, UsageKey.Object));

    /// <summary>Typed Usage struct (fwkrh.Usage) and its PromptTokenDetails.</summary>
    private static readonly GoKeyTable<UsageKey> s_typedUsageKeys = new(
        UsageKey.Other,
        MaxNameRawBytes,
        ("prompt_tokens", Fold, UsageKey.PromptTokens),
        ("completion_tokens", Fold, UsageKey.CompletionTokens),
        ("total_tokens", Fold, UsageKey.TotalTokens),
        ("prompt_token_details", Fold, UsageKey.PromptTokenDetails),
        ("cached_tokens", Fold, UsageKey.CachedTokens));

    /// <summary>Usage decoded as map[string]any and its prompt_token_details map.</summary>
    private static readonly GoKeyTable<UsageKey> s_mapUsageKeys = new(
        UsageKey.Other,
        MaxNameRawBytes,
        ("input_tokens", Exact, UsageKey.InputTokens),
        ("output_tokens", Exact, UsageKey.OutputTokens),
        ("prompt_tokens", Exact, UsageKey.PromptTokens),
        ("completion_tokens", Exact, UsageKey.CompletionTokens),
        ("total_tokens", Exact, UsageKey.TotalTokens),
        ("prompt_token_details", Exact, UsageKey.PromptTokenDetails),
        ("cached_tokens", Exact, UsageKey.CachedTokens));

    private enum UsageKey
    {
        Other,
        Usage,
        Object,
        Response,
        Type,
        InputTokens,
        OutputTokens,
        PromptTokens,
        CompletionTokens,
        TotalTokens,
        PromptTokenDetails,
        CachedTokens,
    }

    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;

    private static ReadOnlySpan<byte> Done => "[DONE]"u8;

    /// <summary>
    /// Response streaming detection of the ext_proc handler (§2.6): the <c>content-type</c> value
    /// contains <c>text/event-stream</c> (case-sensitive). With <paramref name="ignoreCase"/> it is the
    /// parser's own check (lower-cased value), used to pick SSE usage parsing.
    /// </summary>
    public static bool IsEventStream(ReadOnlySpan<byte> contentType, bool ignoreCase = false)
    {
        ReadOnlySpan<byte> needle = "text/event-stream"u8;
        if (!ignoreCase)
        {
            return contentType.IndexOf(needle) >= 0;
        }

        for (int i = 0; i + needle.Length <= contentType.Length; i++)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(contentType.Slice(i, needle.Length), needle))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// SSE chunk (parsed alone; lines split across chunks are not reassembled, as in the reference):
    /// the first <c>data: </c> line with a non-null <c>usage</c>, or a <c>response.completed</c> event with
    /// <c>response.usage</c>, sets <paramref name="usage"/>. Returns false (usage untouched) otherwise.
    /// </summary>
    public static bool ParseSseChunk(ReadOnlySpan<byte> chunk, ref Usage usage)
    {
        while (!chunk.IsEmpty)
        {
            int nl = chunk.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = nl < 0 ? chunk : chunk[..nl];
            chunk = nl < 0 ? default : chunk[(nl + 1)..];
            if (!line.StartsWith(DataPrefix))
            {
                continue;
            }

            ReadOnlySpan<byte> content = line[DataPrefix.Length..];
            if (content.SequenceEqual(Done))
            {
                continue;
            }

            if (TryParseStreamLine(content, out Usage found))
            {
                usage = found;
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Non-streaming body: Go decodes it into <c>map[string]any</c>; a top-level <c>usage</c> object gives
    /// the counters, named by <c>object</c> (input/output for responses/conversations, prompt/completion
    /// for chat and text completions, else either). Invalid JSON or no usage: returns false.
    /// </summary>
    public static bool ParseJson(in ReadOnlySequence<byte> body, ref Usage usage)
    {
        if (body.IsEmpty)
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = GoJsonSyntax.MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            var fields = default(MapUsage);
            bool usageIsObject = false;
            Span<byte> objectType = stackalloc byte[64];
            int objectTypeLength = 0;
            bool failed = false;
            reader.Read();
            while (reader.TokenType == JsonTokenType.PropertyName)
            {
                UsageKey key = s_bodyKeys.Classify(ref reader);
                bool isUsage = key == UsageKey.Usage;
                bool isObject = key == UsageKey.Object;
                reader.Read();
                if (isUsage)
                {
                    fields = default;
                    usageIsObject = reader.TokenType == JsonTokenType.StartObject;
                    if (usageIsObject)
                    {
                        failed |= !ReadMapUsage(ref reader, ref fields);
                    }
                    else
                    {
                        failed |= !SkipChecked(ref reader);
                    }
                }
                else if (isObject)
                {
                    objectTypeLength = reader.TokenType == JsonTokenType.String ? ReadPrefix(ref reader, objectType) : 0;
                    failed |= !SkipChecked(ref reader);
                }
                else
                {
                    failed |= !SkipChecked(ref reader);
                }

                reader.Read();
            }

            while (reader.Read())
            {
            }

            if (failed || !usageIsObject)
            {
                return false;
            }

            usage = fields.ToUsage(objectType[..objectTypeLength]);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>One SSE data line, decoded like Go's streamResponse struct.</summary>
    private static bool TryParseStreamLine(ReadOnlySpan<byte> json, out Usage result)
    {
        result = default;
        try
        {
            // Not final: a line cut by the chunk end just stops (no exception on the common path).
            var reader = new Utf8JsonReader(json, isFinalBlock: false, new JsonReaderState(new JsonReaderOptions { MaxDepth = GoJsonSyntax.MaxDepth }));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            var typed = default(Usage);
            var mapUsage = default(MapUsage);
            bool responseUsage = false;
            Span<byte> objectType = stackalloc byte[64];
            int objectTypeLength = 0;
            bool isCompleted = false;
            bool closed;
            while (NextMember(ref reader, s_streamLineKeys, out UsageKey key, out closed))
            {
                JsonTokenType t = reader.TokenType;
                switch (key)
                {
                    case UsageKey.Usage:
                        if (t == JsonTokenType.Null)
                        {
                            typed = default;
                        }
                        else if (t == JsonTokenType.StartObject)
                        {
                            if (!typed.Present)
                            {
                                typed = default;
                            }

                            typed.Present = true;
                            if (!ReadTypedUsage(ref reader, ref typed))
                            {
                                return false;
                            }
                        }
                        else
                        {
                            return false;
                        }

                        break;
                    case UsageKey.Response:
                        if (t == JsonTokenType.StartObject)
                        {
                            if (!ReadResponse(ref reader, ref mapUsage, ref responseUsage, objectType, ref objectTypeLength))
                            {
                                return false;
                            }
                        }
                        else if (t != JsonTokenType.Null)
                        {
                            return false;
                        }

                        break;
                    case UsageKey.Type:
                        if (t == JsonTokenType.String)
                        {
                            isCompleted = GoJsonReader.TextEquals(ref reader, "response.completed"u8, Exact, MaxNameRawBytes);
                        }
                        else if (t != JsonTokenType.Null)
                        {
                            return false;
                        }

                        break;
                    default:
                        if (!reader.TrySkip())
                        {
                            return false;
                        }

                        break;
                }
            }

            // After the object only whitespace may follow (Go: "invalid character after top-level value").
            if (!closed || reader.CurrentDepth != 0 || reader.Read())
            {
                return false;
            }

            if (typed.Present)
            {
                result = typed;
                return true;
            }

            if (responseUsage && isCompleted)
            {
                result = mapUsage.ToUsage(objectType[..objectTypeLength]);
                return true;
            }

            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// Moves to the next member of the object being read: true with its key and the reader on its value; false
    /// at the object's end (<paramref name="closed"/>) or when the data ends first (not closed).
    /// </summary>
    private static bool NextMember(ref Utf8JsonReader reader, GoKeyTable<UsageKey> keys, out UsageKey key, out bool closed)
    {
        key = UsageKey.Other;
        closed = false;
        if (!reader.Read())
        {
            return false;
        }

        if (reader.TokenType != JsonTokenType.PropertyName)
        {
            closed = reader.TokenType == JsonTokenType.EndObject;
            return false;
        }

        key = keys.Classify(ref reader);
        return reader.Read();
    }

    /// <summary>response: {usage map[string]any, object string}.</summary>
    private static bool ReadResponse(ref Utf8JsonReader reader, ref MapUsage map, ref bool hasUsage, scoped Span<byte> objectType, ref int objectTypeLength)
    {
        bool closed;
        while (NextMember(ref reader, s_responseKeys, out UsageKey key, out closed))
        {
            JsonTokenType t = reader.TokenType;
            if (key == UsageKey.Usage)
            {
                if (t == JsonTokenType.Null)
                {
                    hasUsage = false;
                    map = default;
                }
                else if (t == JsonTokenType.StartObject)
                {
                    // Go decodes into the same map again: keys accumulate.
                    hasUsage = true;
                    if (!ReadMapUsage(ref reader, ref map))
                    {
                        return false;
                    }
                }
                else
                {
                    return false;
                }
            }
            else if (key == UsageKey.Object)
            {
                if (t == JsonTokenType.String)
                {
                    objectTypeLength = ReadPrefix(ref reader, objectType);
                }
                else if (t != JsonTokenType.Null)
                {
                    return false;
                }
            }
            else if (!reader.TrySkip())
            {
                return false;
            }
        }

        return closed;
    }

    /// <summary>Typed Usage fields (Go int: an integer literal that fits int64; null leaves the field).</summary>
    private static bool ReadTypedUsage(ref Utf8JsonReader reader, ref Usage usage)
    {
        bool closed;
        while (NextMember(ref reader, s_typedUsageKeys, out UsageKey key, out closed))
        {
            JsonTokenType t = reader.TokenType;
            if (key is UsageKey.PromptTokens or UsageKey.CompletionTokens or UsageKey.TotalTokens)
            {
                if (t == JsonTokenType.Number)
                {
                    if (!TryGetGoInt(ref reader, out int v))
                    {
                        return false;
                    }

                    switch (key)
                    {
                        case UsageKey.PromptTokens:
                            usage.PromptTokens = v;
                            break;
                        case UsageKey.CompletionTokens:
                            usage.CompletionTokens = v;
                            break;
                        default:
                            usage.TotalTokens = v;
                            break;
                    }
                }
                else if (t != JsonTokenType.Null)
                {
                    return false;
                }
            }
            else if (key == UsageKey.PromptTokenDetails)
            {
                if (t == JsonTokenType.Null)
                {
                    usage.CachedTokens = 0;
                }
                else if (t == JsonTokenType.StartObject)
                {
                    usage.HasCachedTokens = true;
                    if (!ReadTypedDetails(ref reader, ref usage))
                    {
                        return false;
                    }
                }
                else
                {
                    return false;
                }
            }
            else if (!reader.TrySkip())
            {
                return false;
            }
        }

        return closed;
    }

    /// <summary>Typed PromptTokenDetails {cached_tokens int}.</summary>
    private static bool ReadTypedDetails(ref Utf8JsonReader reader, ref Usage usage)
    {
        bool closed;
        while (NextMember(ref reader, s_typedUsageKeys, out UsageKey key, out closed))
        {
            bool cached = key == UsageKey.CachedTokens;
            if (cached && reader.TokenType == JsonTokenType.Number)
            {
                if (!TryGetGoInt(ref reader, out int v))
                {
                    return false;
                }

                usage.CachedTokens = v;
            }
            else if (cached && reader.TokenType != JsonTokenType.Null)
            {
                return false;
            }
            else if (!reader.TrySkip())
            {
                return false;
            }
        }

        return closed;
    }

    /// <summary>A usage object decoded as map[string]any (exact keys, float64 numbers, last wins).</summary>
    private static bool ReadMapUsage(ref Utf8JsonReader reader, ref MapUsage map)
    {
        bool closed;
        while (NextMember(ref reader, s_mapUsageKeys, out UsageKey key, out closed))
        {
            JsonTokenType t = reader.TokenType;
            if (key == UsageKey.PromptTokenDetails)
            {
                map.Cached = null;
                if (t == JsonTokenType.StartObject)
                {
                    if (!ReadMapDetails(ref reader, ref map))
                    {
                        return false;
                    }
                }
                else if (!SkipChecked(ref reader))
                {
                    return false;
                }
            }
            else if (t == JsonTokenType.Number)
            {
                if (!TryGetFloat(ref reader, out double v))
                {
                    return false;
                }

                map.Set(key, v);
            }
            else
            {
                map.Set(key, null);
                if (!SkipChecked(ref reader))
                {
                    return false;
                }
            }
        }

        return closed;
    }

    /// <summary>prompt_token_details decoded as map[string]any: a number <c>cached_tokens</c> (last wins).</summary>
    private static bool ReadMapDetails(ref Utf8JsonReader reader, ref MapUsage map)
    {
        bool closed;
        while (NextMember(ref reader, s_mapUsageKeys, out UsageKey key, out closed))
        {
            bool cached = key == UsageKey.CachedTokens;
            if (reader.TokenType == JsonTokenType.Number)
            {
                if (!TryGetFloat(ref reader, out double v))
                {
                    return false;
                }

                if (cached)
                {
                    map.Cached = v;
                }
            }
            else
            {
                if (!SkipChecked(ref reader))
                {
                    return false;
                }

                if (cached)
                {
                    map.Cached = null;
                }
            }
        }

        return closed;
    }

    /// <summary>Skips a value; false if a number in it overflows float64 (Go's generic decode fails) or data ends.</summary>
    private static bool SkipChecked(ref Utf8JsonReader reader)
    {
        JsonTokenType t = reader.TokenType;
        if (t == JsonTokenType.Number)
        {
            return TryGetFloat(ref reader, out _);
        }

        if (t is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return true;
        }

        int depth = reader.CurrentDepth;
        while (reader.Read())
        {
            t = reader.TokenType;
            if (t == JsonTokenType.Number && !TryGetFloat(ref reader, out _))
            {
                return false;
            }

            if ((t == JsonTokenType.EndObject || t == JsonTokenType.EndArray) && reader.CurrentDepth == depth)
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryGetFloat(ref Utf8JsonReader reader, out double value)
    {
        if (!reader.HasValueSequence)
        {
            return GoFloat.TryParse(reader.ValueSpan, out value);
        }

        // A number split across segments fails exactly as a contiguous one (Go: overflow → no usage).
        return GoFloat.TryParse(reader.ValueSequence, out value);
    }

    /// <summary>Go strconv.ParseInt(s, 10, 64) on the number token (no fraction, no exponent), clamped to int.</summary>
    private static bool TryGetGoInt(ref Utf8JsonReader reader, out int value)
    {
        value = 0;
        if (!reader.TryGetInt64(out long v))
        {
            return false;
        }

        ReadOnlySpan<byte> raw = reader.HasValueSequence ? default : reader.ValueSpan;
        if (!reader.HasValueSequence && raw.IndexOfAny((byte)'.', (byte)'e', (byte)'E') >= 0)
        {
            return false;
        }

        value = (int)Math.Clamp(v, int.MinValue, int.MaxValue);
        return true;
    }

    /// <summary>Unescapes the start of the current string into <paramref name="dest"/> (enough for prefix tests).</summary>
    private static int ReadPrefix(ref Utf8JsonReader reader, scoped Span<byte> dest)
    {
        var sink = new SpanSink(dest);
        if (!reader.HasValueSequence)
        {
            ReadOnlySpan<byte> raw = reader.ValueSpan;
            bool whole = raw.Length * 3 <= dest.Length;
            GoJsonString.Transcode(whole ? raw : raw[..(dest.Length / 3)], final: whole, GoStringMode.Unquote, ref sink);
            return sink.Length;
        }

        ReadOnlySequence<byte> seq = reader.ValueSequence;
        bool all = seq.Length * 3 <= dest.Length;
        GoJsonString.Transcode(all ? seq : seq.Slice(0, dest.Length / 3), GoStringMode.Unquote, ref sink);
        // A cut sequence may end with a partial unit decoded as U+FFFD: harmless for prefix tests.
        return sink.Length;
    }

    /// <summary>Counters read from a usage map (null = absent or not a number).</summary>
    private struct MapUsage
    {
        public double? InputTokens;
        public double? OutputTokens;
        public double? PromptTokens;
        public double? CompletionTokens;
        public double? TotalTokens;
        public double? Cached;

        public void Set(UsageKey key, double? value)
        {
            switch (key)
            {
                case UsageKey.InputTokens:
                    InputTokens = value;
                    break;
                case UsageKey.OutputTokens:
                    OutputTokens = value;
                    break;
                case UsageKey.PromptTokens:
                    PromptTokens = value;
                    break;
                case UsageKey.CompletionTokens:
                    CompletionTokens = value;
                    break;
                case UsageKey.TotalTokens:
                    TotalTokens = value;
                    break;
            }
        }

        /// <summary>extractUsageByAPIType + prompt_token_details.</summary>
        public readonly Usage ToUsage(ReadOnlySpan<byte> objectType)
        {
            var u = new Usage { Present = true };
            if (objectType.StartsWith("response"u8) || objectType.StartsWith("conversation"u8))
            {
                u.PromptTokens = ToInt(InputTokens);
                u.CompletionTokens = ToInt(OutputTokens);
            }
            else if (objectType.SequenceEqual("chat.completion"u8) || objectType.SequenceEqual("chat.completion.chunk"u8)
                || objectType.SequenceEqual("text_completion"u8))
            {
                u.PromptTokens = ToInt(PromptTokens);
                u.CompletionTokens = ToInt(CompletionTokens);
            }
            else
            {
                u.PromptTokens = ToInt(InputTokens ?? PromptTokens);
                u.CompletionTokens = ToInt(OutputTokens ?? CompletionTokens);
            }

            u.TotalTokens = ToInt(TotalTokens);
            u.CachedTokens = ToInt(Cached);
            u.HasCachedTokens = Cached.HasValue;
            return u;
        }

        /// <summary>Go int(float64): truncation toward zero (clamped instead of Go's undefined overflow).</summary>
        private static int ToInt(double? v) => v is double d ? (int)Math.Clamp(Math.Truncate(d), int.MinValue, int.MaxValue) : 0;
    }
}
