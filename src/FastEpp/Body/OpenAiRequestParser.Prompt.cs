using System.Text.Json;
using FastEpp.GoCompat;

namespace FastEpp.Body;

/// <summary>Completions <c>prompt</c> and embeddings <c>input</c> (Go Prompt / EmbeddingsInput UnmarshalJSON).</summary>
internal static partial class OpenAiRequestParser
{
    /// <summary>
    /// A string, or an array whose first element decides: all strings, or all numbers that are exact
    /// uint32 token ids. null, numbers, bools, objects and other arrays are errors.
    /// </summary>
    private static ValueRange WalkPromptLike(ref Utf8JsonReader reader, ref WalkState st)
    {
        ParsedRequest r = st.Result;
        JsonTokenType t = reader.TokenType;
        long start = reader.TokenStartIndex;
        if (t == JsonTokenType.String)
        {
            r.PromptStringLength = GoJsonReader.UnquotedLength(ref reader);
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
                textLength += GoJsonReader.UnquotedLength(ref reader) + (count > 0 ? 1 : 0);
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
        if (!GoJsonReader.TryGetFloat(ref reader, out double f))
        {
            return false;
        }

        return f >= 0 && f <= uint.MaxValue && Math.Floor(f) == f;
    }
}
