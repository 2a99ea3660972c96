using System.Buffers;
using System.Text.Json;

namespace FastEpp.GoCompat;

/// <summary>
/// The current token of a <see cref="Utf8JsonReader"/> read with Go <c>encoding/json</c> semantics: string values
/// unescaped as Go does (<see cref="GoJsonString"/>), numbers parsed as float64 (<see cref="GoFloat"/>), names
/// matched as Go matches them (<see cref="GoFieldName"/>). FAST PATH: every request body is walked with these.
/// </summary>
internal static class GoJsonReader
{
    /// <summary>
    /// Longest raw (escaped) property name worth unescaping for a match: no known field name (at most 28
    /// characters, each at most 6 raw bytes) is longer, so a longer name is simply "other".
    /// </summary>
    public const int MaxNameRawBytes = 200;

    /// <summary>Raw (still escaped) byte length of the current string, property name or number token.</summary>
    public static long RawLength(ref Utf8JsonReader reader) =>
        reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;

    /// <summary>Decoded (unquoted) byte length of the current string token.</summary>
    public static long UnquotedLength(ref Utf8JsonReader reader) =>
        reader.HasValueSequence
            ? GoJsonString.UnquotedLength(reader.ValueSequence)
            : GoJsonString.UnquotedLength(reader.ValueSpan);

    /// <summary>Transcodes the current string / property-name token (its content, no quotes) into <paramref name="sink"/>.</summary>
    public static void Transcode<TSink>(ref readonly Utf8JsonReader reader, GoStringMode mode, ref TSink sink)
        where TSink : IByteSink, allows ref struct
    {
        if (reader.HasValueSequence)
        {
            GoJsonString.Transcode(reader.ValueSequence, mode, ref sink);
        }
        else
        {
            GoJsonString.Transcode(reader.ValueSpan, final: true, mode, ref sink);
        }
    }

    /// <summary>
    /// Unescapes the current string / property-name token into <paramref name="buffer"/>; -1 when its raw length
    /// times three (the worst-case growth) does not fit.
    /// </summary>
    public static int TryUnescape(ref Utf8JsonReader reader, scoped Span<byte> buffer)
    {
        if (RawLength(ref reader) * 3 > buffer.Length)
        {
            return -1;
        }

        var sink = new SpanSink(buffer);
        Transcode(ref reader, GoStringMode.Unquote, ref sink);
        return sink.Overflow ? -1 : sink.Length;
    }

    /// <summary>
    /// The current string / property-name token, unescaped, equals <paramref name="expected"/> under
    /// <paramref name="match"/>. An escaped token of more than <paramref name="maxRawBytes"/> raw bytes
    /// (at most <see cref="MaxNameRawBytes"/>) never matches.
    /// </summary>
    public static bool TextEquals(ref Utf8JsonReader reader, ReadOnlySpan<byte> expected, GoKeyMatch match, int maxRawBytes = MaxNameRawBytes)
    {
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            return GoFieldName.Matches(reader.ValueSpan, expected, match);
        }

        Span<byte> buf = stackalloc byte[3 * MaxNameRawBytes];
        int n = TryUnescape(ref reader, buf[..(3 * maxRawBytes)]);
        return n >= 0 && GoFieldName.Matches(buf[..n], expected, match);
    }

    /// <summary>strconv.ParseFloat(s, 64) on the current number token; false when it overflows.</summary>
    public static bool TryGetFloat(ref Utf8JsonReader reader, out double value) =>
        reader.HasValueSequence
            ? GoFloat.TryParse(reader.ValueSequence, out value)
            : GoFloat.TryParse(reader.ValueSpan, out value);

    /// <summary>The kind of the value a token starts (what Go's generic decode makes of it).</summary>
    public static JsonValueKind KindOf(JsonTokenType first) => first switch
    {
        JsonTokenType.StartObject => JsonValueKind.Object,
        JsonTokenType.StartArray => JsonValueKind.Array,
        JsonTokenType.String => JsonValueKind.String,
        JsonTokenType.Number => JsonValueKind.Number,
        JsonTokenType.True => JsonValueKind.True,
        JsonTokenType.False => JsonValueKind.False,
        _ => JsonValueKind.Null,
    };
}
