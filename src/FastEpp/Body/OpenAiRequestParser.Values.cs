using System.Buffers;
using System.Text.Json;
using FastEpp.GoCompat;

namespace FastEpp.Body;

/// <summary>
/// Value-level steps of the request parser shared by every API: skipping a value while checking its numbers
/// (Go's map decode), type checks of typed fields, arrays of structs.
/// </summary>
internal static partial class OpenAiRequestParser
{
    /// <summary>The struct type of a typed array's elements.</summary>
    private enum ArrayElement
    {
        /// <summary>Chat <c>Message</c> {role string, content Content}.</summary>
        Message,

        /// <summary>Conversations <c>ConversationItem</c> {type, role string; content any}.</summary>
        ConversationItem,
    }

    /// <summary>Range of the value that started at <paramref name="start"/> and ends at the reader's position.</summary>
    private static ValueRange RangeOf(long start, ref Utf8JsonReader reader, JsonTokenType first) =>
        new(start, reader.BytesConsumed - start, GoJsonReader.KindOf(first));

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

    /// <summary>
    /// A typed array of structs: the array may be null, each element an object or null; anything else is a type
    /// error. Sets <see cref="ParsedRequest.ElementCount"/>; returns the array's range and, for messages, the
    /// plain-text length (each message's Content.PlainText plus one separator).
    /// </summary>
    private static ValueRange WalkObjectArray(ref Utf8JsonReader reader, ref WalkState st, ArrayElement element, out long textLength)
    {
        JsonTokenType t = reader.TokenType;
        long start = reader.TokenStartIndex;
        int count = 0;
        textLength = 0;
        if (t == JsonTokenType.StartArray)
        {
            reader.Read();
            while (reader.TokenType != JsonTokenType.EndArray)
            {
                JsonTokenType et = reader.TokenType;
                if (et == JsonTokenType.StartObject)
                {
                    if (element == ArrayElement.Message)
                    {
                        long plain = WalkMessage(ref reader, ref st);
                        textLength += plain > 0 ? plain + 1 : 0;
                    }
                    else
                    {
                        WalkItem(ref reader, ref st);
                    }
                }
                else
                {
                    if (et != JsonTokenType.Null)
                    {
                        st.TypedError = true;
                    }
                    else if (element == ArrayElement.Message)
                    {
                        // A null element is a zero Message: it still counts in the prefix input.
                        st.Result.AddMessage();
                    }

                    SkipValue(ref reader, ref st);
                }

                count++;
                reader.Read();
            }
        }
        else
        {
            ExpectKind(ref reader, ref st, JsonTokenType.StartArray);
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

        if (!GoJsonReader.TryGetFloat(ref reader, out _))
        {
            // Error path: the Go text quotes the number.
            st.OverflowError = GoJsonSyntax.NumberOverflowError(reader.HasValueSequence
                ? reader.ValueSequence
                : new ReadOnlySequence<byte>(reader.ValueSpan.ToArray()));
        }
    }
}
