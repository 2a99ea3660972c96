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
    /// <summary>Longest raw block <c>type</c> compared with <c>"text"</c> (it is read into a 192-byte buffer).</summary>
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
                if (t == JsonTokenType.String)
                {
                    ref MessageEntry m = ref r.MessageEntries[entry];
                    m.RoleStart = reader.TokenStartIndex;
                    m.RoleLength = GoJsonReader.RawLength(ref reader);
                }

                ExpectKind(ref reader, ref st, JsonTokenType.String);
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
                        ref BlockEntry b = ref r.Block(block);
                        b.TypeStart = reader.TokenStartIndex;
                        b.TypeLength = GoJsonReader.RawLength(ref reader);
                    }
                    else if (t != JsonTokenType.Null)
                    {
                        st.TypedError = true;
                    }

                    SkipValue(ref reader, ref st);
                    break;
                case BlockKey.Text:
                    if (t == JsonTokenType.String)
                    {
                        textLength = GoJsonReader.UnquotedLength(ref reader);
                        ref BlockEntry b = ref r.Block(block);
                        b.TextStart = reader.TokenStartIndex;
                        b.TextLength = GoJsonReader.RawLength(ref reader);
                    }
                    else if (t != JsonTokenType.Null)
                    {
                        st.TypedError = true;
                    }

                    SkipValue(ref reader, ref st);
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
            if (field == MediaKey.Other)
            {
                SkipValue(ref reader, ref st);
                reader.Read();
                continue;
            }

            if (reader.TokenType == JsonTokenType.String)
            {
                long start = reader.TokenStartIndex;
                long length = GoJsonReader.RawLength(ref reader);
                switch (field)
                {
                    case MediaKey.Url when media == BlockKey.ImageUrl:
                        b.ImageStart = start;
                        b.ImageLength = length;
                        break;
                    case MediaKey.Url:
                        b.VideoStart = start;
                        b.VideoLength = length;
                        break;
                    case MediaKey.Data:
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
            reader.Read();
        }
    }
}
