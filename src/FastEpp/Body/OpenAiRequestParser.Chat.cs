using System.Text.Json;
using FastEpp.GoCompat;

namespace FastEpp.Body;

/// <summary>
/// Chat completions <c>messages</c>: []Message {role string, content Content}, Content being a raw string or
/// []ContentBlock. The structure is recorded in <see cref="ParsedRequest"/> so the prefix input is written
/// without a second pass (<see cref="RequestBodyWriter"/>).
/// </summary>
internal static partial class OpenAiRequestParser
{
    /// <summary>An escaped block <c>type</c> longer than this many raw bytes is not <c>"text"</c> here.</summary>
    private const int MaxBlockTypeRawBytes = 64;

    private static ValueRange WalkMessages(ref Utf8JsonReader reader, ref WalkState st)
    {
        st.Result.MessageEntryCount = 0;
        st.Result.BlockEntryCount = 0;
        ValueRange range = WalkObjectArray(ref reader, ref st, ArrayElement.Message, out long text);
        st.ChatTextLength = text;
        return range;
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
            MessageKey key = s_messageKeys.Classify(ref reader);
            reader.Read();
            JsonTokenType t = reader.TokenType;
            if (key == MessageKey.Role)
            {
                ref MessageEntry m = ref r.MessageEntries[entry];
                WalkStringField(ref reader, ref st, ref m.RoleStart, ref m.RoleLength);
            }
            else if (key == MessageKey.Content)
            {
                if (t == JsonTokenType.String)
                {
                    rawLength = GoJsonReader.UnquotedLength(ref reader);
                    ref MessageEntry m = ref r.MessageEntries[entry];
                    m.RawStart = reader.TokenStartIndex;
                    m.RawLength = GoJsonReader.RawLength(ref reader);
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
            BlockKey key = s_blockKeys.Classify(ref reader);
            reader.Read();
            JsonTokenType t = reader.TokenType;
            switch (key)
            {
                case BlockKey.Type:
                    if (t == JsonTokenType.String)
                    {
                        isText = GoJsonReader.TextEquals(ref reader, "text"u8, GoKeyMatch.Exact, MaxBlockTypeRawBytes);
                    }

                    WalkStringField(ref reader, ref st, ref r.Block(block).TypeStart, ref r.Block(block).TypeLength);
                    break;
                case BlockKey.Text:
                    if (t == JsonTokenType.String)
                    {
                        textLength = GoJsonReader.UnquotedLength(ref reader);
                    }

                    WalkStringField(ref reader, ref st, ref r.Block(block).TextStart, ref r.Block(block).TextLength);
                    break;
                case BlockKey.ImageUrl:
                case BlockKey.VideoUrl:
                case BlockKey.InputAudio:
                    if (t == JsonTokenType.StartObject)
                    {
                        WalkMediaFields(ref reader, ref st, key, ref r.Block(block));
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
    /// ImageBlock / VideoBlock {url} or AudioBlock {data, format}: string-or-null fields; the last string of
    /// each is recorded (repeated sub-objects merge into the same struct, as in Go).
    /// </summary>
    private static void WalkMediaFields(ref Utf8JsonReader reader, ref WalkState st, BlockKey media, ref BlockEntry b)
    {
        GoKeyTable<MediaKey> keys = media == BlockKey.InputAudio ? s_audioKeys : s_urlKeys;
        reader.Read();
        while (reader.TokenType == JsonTokenType.PropertyName)
        {
            MediaKey field = keys.Classify(ref reader);
            reader.Read();
            switch (field)
            {
                case MediaKey.Url when media == BlockKey.ImageUrl:
                    WalkStringField(ref reader, ref st, ref b.ImageStart, ref b.ImageLength);
                    break;
                case MediaKey.Url:
                    WalkStringField(ref reader, ref st, ref b.VideoStart, ref b.VideoLength);
                    break;
                case MediaKey.Data:
                    WalkStringField(ref reader, ref st, ref b.DataStart, ref b.DataLength);
                    break;
                case MediaKey.Format:
                    WalkStringField(ref reader, ref st, ref b.FormatStart, ref b.FormatLength);
                    break;
                default:
                    SkipValue(ref reader, ref st);
                    break;
            }

            reader.Read();
        }
    }

    /// <summary>
    /// A typed string field (string or null; anything else is a type error). A string's token start (the quote)
    /// and raw length are recorded; null leaves the previous value, as Go's decode does.
    /// </summary>
    private static void WalkStringField(ref Utf8JsonReader reader, ref WalkState st, ref long start, ref long rawLength)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            start = reader.TokenStartIndex;
            rawLength = GoJsonReader.RawLength(ref reader);
        }

        ExpectKind(ref reader, ref st, JsonTokenType.String);
    }
}
