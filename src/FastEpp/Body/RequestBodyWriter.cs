using System.Buffers;
using System.Text.Json;
using FastEpp.GoCompat;

namespace FastEpp.Body;

/// <summary>
/// Writes derived bytes from a parsed request body: the body with only the model value replaced
/// (instead of the reference's full Go re-serialisation; DESIGN.md "only the value is spliced"), and
/// the prefix-cache input bytes U of scheduling.md §3.3 step 3 (reference
/// <c>approximateprefix/hashing.go</c> getUserInputBytes), re-walking the ranges recorded by
/// <see cref="OpenAiRequestParser"/> over the same body sequence.
/// </summary>
internal static class RequestBodyWriter
{
    /// <summary>ConversationItem fields (Go struct: case-insensitive).</summary>
    private static readonly GoKeyTable<ItemField> s_itemKeys = new(
        ItemField.Other,
        ("type", GoKeyMatch.Fold, ItemField.Type),
        ("role", GoKeyMatch.Fold, ItemField.Role),
        ("content", GoKeyMatch.Fold, ItemField.Content));

    /// <summary>
    /// Writes <paramref name="body"/> with the model string token replaced by <paramref name="newModel"/>
    /// (JSON-escaped as Go would); every other byte is copied unchanged. Without a model (the caller
    /// answers "model not found in request body" before getting here) the body is copied unchanged.
    /// </summary>
    public static void WriteWithModel(in ReadOnlySequence<byte> body, ParsedRequest parsed, string newModel, IBufferWriter<byte> output)
    {
        if (!parsed.HasModel || parsed.ModelValueOffset + parsed.ModelValueLength > body.Length)
        {
            Copy(body, output);
            return;
        }

        Copy(body.Slice(0, parsed.ModelValueOffset), output);
        var sink = new BufferWriterSink(output);
        GoJsonString.WriteQuotedString(newModel, ref sink);
        sink.Flush();
        Copy(body.Slice(parsed.ModelValueOffset + parsed.ModelValueLength), output);
    }

    /// <summary>
    /// Writes the prefix-hash user input U for the parsed API (a request that parsed <see cref="ParseStatus.Ok"/>):
    /// completions — the prompt text (string array joined by one space; token ids give nothing);
    /// chat — Go JSON of the messages; responses — Go JSON of [{instructions}, {tools}, {input}];
    /// conversations — Go JSON of the items; embeddings — Go JSON of the EmbeddingsInput struct.
    /// </summary>
    public static void WritePrefixInput(in ReadOnlySequence<byte> body, ParsedRequest parsed, IBufferWriter<byte> output)
    {
        if (parsed.Format != BodyFormat.Json)
        {
            // Decoded by another parser: what it recorded (nothing for passthrough, as the reference hashes nothing).
            if (parsed.RecordedPrefixInputLength > 0)
                output.Write(parsed.RecordedPrefixInput);
            return;
        }

        var sink = new BufferWriterSink(output);
        try
        {
            switch (parsed.Api)
            {
                case ApiKind.Completions: WritePlainPrompt(body, parsed, ref sink); break;
                case ApiKind.Embeddings: WriteEmbeddingsInput(body, parsed, ref sink); break;
                case ApiKind.ChatCompletions: WriteMessages(body, parsed, ref sink); break;
                case ApiKind.Responses: WriteResponsesInput(body, parsed, ref sink); break;
                case ApiKind.Conversations: WriteItems(body, parsed, ref sink); break;
            }
        }
        catch (JsonException)
        {
            // Only if the caller passed a body other than the parsed one; the output is then partial.
        }

        sink.Flush();
    }

    private static void Copy(in ReadOnlySequence<byte> data, IBufferWriter<byte> output)
    {
        foreach (ReadOnlyMemory<byte> segment in data)
        {
            output.Write(segment.Span);
        }
    }

    private static Utf8JsonReader ReaderFor(in ReadOnlySequence<byte> body, ValueRange range) =>
        new(body.Slice(range.Start, range.Length), new JsonReaderOptions { MaxDepth = GoJsonSyntax.MaxDepth });

    /// <summary>Go Prompt.PlainText: Raw if non-empty, else Strings joined by a space.</summary>
    private static void WritePlainPrompt(in ReadOnlySequence<byte> body, ParsedRequest parsed, ref BufferWriterSink sink)
    {
        if (parsed.PromptStringLength > 0)
        {
            ValueRange s = parsed.PromptString;
            GoJsonString.Transcode(body.Slice(s.Start + 1, s.Length - 2), GoStringMode.Unquote, ref sink);
            return;
        }

        if (parsed.PromptArrayKind != PromptArrayKind.Strings)
        {
            return;
        }

        Utf8JsonReader reader = ReaderFor(body, parsed.PromptArray);
        bool first = true;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.String)
            {
                continue;
            }

            if (!first)
            {
                sink.Write((byte)' ');
            }

            first = false;
            GoJsonReader.Transcode(ref reader, GoStringMode.Unquote, ref sink);
        }
    }

    /// <summary>Go default struct encoding of EmbeddingsInput: {"Raw":..,"Strings":[..]|null,"TokenIDs":[..]|null}.</summary>
    private static void WriteEmbeddingsInput(in ReadOnlySequence<byte> body, ParsedRequest parsed, ref BufferWriterSink sink)
    {
        sink.Write("{\"Raw\":\""u8);
        if (parsed.PromptStringLength > 0)
        {
            ValueRange s = parsed.PromptString;
            GoJsonString.Transcode(body.Slice(s.Start + 1, s.Length - 2), GoStringMode.Quote, ref sink);
        }

        sink.Write("\",\"Strings\":"u8);
        WriteInputArray(body, parsed, PromptArrayKind.Strings, ref sink);
        sink.Write(",\"TokenIDs\":"u8);
        WriteInputArray(body, parsed, PromptArrayKind.TokenIds, ref sink);
        sink.Write((byte)'}');
    }

    private static void WriteInputArray(in ReadOnlySequence<byte> body, ParsedRequest parsed, PromptArrayKind kind, ref BufferWriterSink sink)
    {
        if (parsed.PromptArrayKind != kind)
        {
            sink.Write("null"u8);
            return;
        }

        Utf8JsonReader reader = ReaderFor(body, parsed.PromptArray);
        sink.Write((byte)'[');
        bool first = true;
        Span<byte> digits = stackalloc byte[16];
        while (reader.Read())
        {
            JsonTokenType t = reader.TokenType;
            if (t is not (JsonTokenType.String or JsonTokenType.Number))
            {
                continue;
            }

            if (!first)
            {
                sink.Write((byte)',');
            }

            first = false;
            if (t == JsonTokenType.String)
            {
                sink.Write((byte)'"');
                GoJsonReader.Transcode(ref reader, GoStringMode.Quote, ref sink);
                sink.Write((byte)'"');
            }
            else
            {
                // The parser accepted only exact uint32 token ids here.
                double v = GoJsonReader.TryGetFloat(ref reader, out double d) ? d : 0;
                ((uint)v).TryFormat(digits, out int n, default, System.Globalization.CultureInfo.InvariantCulture);
                sink.Write(digits[..n]);
            }
        }

        sink.Write((byte)']');
    }

    /// <summary>
    /// Go json.Marshal([]Message): [{"role":..(omitempty),"content":..}], written from the structure the
    /// parser recorded (no second reader pass over the prompt; RequestBodyBenchmarks).
    /// </summary>
    private static void WriteMessages(in ReadOnlySequence<byte> body, ParsedRequest parsed, ref BufferWriterSink sink)
    {
        if (parsed.Messages.Kind != JsonValueKind.Array)
        {
            sink.Write("null"u8);
            return;
        }

        sink.Write((byte)'[');
        Span<MessageEntry> messages = parsed.MessageEntries;
        for (int i = 0; i < messages.Length; i++)
        {
            ref MessageEntry m = ref messages[i];
            if (i > 0)
            {
                sink.Write((byte)',');
            }

            sink.Write((byte)'{');
            if (m.RoleLength > 0)
            {
                sink.Write("\"role\":\""u8);
                WriteRawString(body, m.RoleStart, m.RoleLength, ref sink);
                sink.Write("\","u8);
            }

            sink.Write("\"content\":"u8);
            if (m.RawLength > 0)
            {
                sink.Write((byte)'"');
                WriteRawString(body, m.RawStart, m.RawLength, ref sink);
                sink.Write((byte)'"');
            }
            else if (m.HasBlocks)
            {
                WriteContentBlocks(body, parsed.BlockEntries.Slice(m.BlockFirst, m.BlockCount), ref sink);
            }
            else
            {
                sink.Write("\"\""u8);
            }

            sink.Write((byte)'}');
        }

        sink.Write((byte)']');
    }

    /// <summary>
    /// Go json.Marshal([]ContentBlock): {"type":..,"text":..(omitempty),"image_url":{"url"?},
    /// "input_audio":{"data"?,"format"?},"video_url":{"url"?}}.
    /// </summary>
    private static void WriteContentBlocks(in ReadOnlySequence<byte> body, Span<BlockEntry> blocks, ref BufferWriterSink sink)
    {
        sink.Write((byte)'[');
        for (int i = 0; i < blocks.Length; i++)
        {
            ref BlockEntry b = ref blocks[i];
            if (i > 0)
            {
                sink.Write((byte)',');
            }

            sink.Write("{\"type\":\""u8);
            WriteRawString(body, b.TypeStart, b.TypeLength, ref sink);
            sink.Write((byte)'"');
            if (b.TextLength > 0)
            {
                sink.Write(",\"text\":\""u8);
                WriteRawString(body, b.TextStart, b.TextLength, ref sink);
                sink.Write((byte)'"');
            }

            sink.Write(",\"image_url\":{"u8);
            WriteOptionalField(body, "\"url\":\""u8, b.ImageStart, b.ImageLength, ref sink, first: true);
            sink.Write("},\"input_audio\":{"u8);
            bool wroteData = WriteOptionalField(body, "\"data\":\""u8, b.DataStart, b.DataLength, ref sink, first: true);
            WriteOptionalField(body, "\"format\":\""u8, b.FormatStart, b.FormatLength, ref sink, first: !wroteData);
            sink.Write("},\"video_url\":{"u8);
            WriteOptionalField(body, "\"url\":\""u8, b.VideoStart, b.VideoLength, ref sink, first: true);
            sink.Write("}}"u8);
        }

        sink.Write((byte)']');
    }

    private static bool WriteOptionalField(in ReadOnlySequence<byte> body, ReadOnlySpan<byte> prefix, long start, long length, ref BufferWriterSink sink, bool first)
    {
        if (length <= 0)
        {
            return false;
        }

        if (!first)
        {
            sink.Write((byte)',');
        }

        sink.Write(prefix);
        WriteRawString(body, start, length, ref sink);
        sink.Write((byte)'"');
        return true;
    }

    /// <summary>Re-quotes the content of a string token given by its start (the quote) and raw content length.</summary>
    private static void WriteRawString(in ReadOnlySequence<byte> body, long start, long rawLength, ref BufferWriterSink sink)
    {
        if (rawLength > 0)
        {
            GoJsonString.Transcode(body.Slice(start + 1, rawLength), GoStringMode.Quote, ref sink);
        }
    }

    /// <summary>Go json.Marshal of the responses parts: [{"instructions":..}?, {"tools":..}?, {"input":..}].</summary>
    private static void WriteResponsesInput(in ReadOnlySequence<byte> body, ParsedRequest parsed, ref BufferWriterSink sink)
    {
        sink.Write((byte)'[');
        if (parsed.Instructions.IsNonNull)
        {
            sink.Write("{\"instructions\":"u8);
            WriteGoValue(body, parsed, parsed.Instructions, ref sink);
            sink.Write("},"u8);
        }

        if (parsed.Tools.IsNonNull)
        {
            sink.Write("{\"tools\":"u8);
            WriteGoValue(body, parsed, parsed.Tools, ref sink);
            sink.Write("},"u8);
        }

        sink.Write("{\"input\":"u8);
        WriteGoValue(body, parsed, parsed.Input, ref sink);
        sink.Write("}]"u8);
    }

    /// <summary>Go json.Marshal of the generic value Go decoded from <paramref name="range"/> (<c>null</c> when absent).</summary>
    private static void WriteGoValue(in ReadOnlySequence<byte> body, ParsedRequest parsed, ValueRange range, ref BufferWriterSink sink)
    {
        if (!range.IsNonNull)
        {
            sink.Write("null"u8);
            return;
        }

        parsed.GoValueEncoder.Encode(body.Slice(range.Start, range.Length), ref sink);
    }

    /// <summary>Go json.Marshal([]ConversationItem): [{"type"?,"role"?,"content"?}] (all omitempty).</summary>
    private static void WriteItems(in ReadOnlySequence<byte> body, ParsedRequest parsed, ref BufferWriterSink sink)
    {
        ValueRange items = parsed.Items;
        if (items.Kind != JsonValueKind.Array)
        {
            sink.Write("null"u8);
            return;
        }

        Utf8JsonReader reader = ReaderFor(body, items);
        reader.Read();
        sink.Write((byte)'[');
        bool first = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (!first)
            {
                sink.Write((byte)',');
            }

            first = false;
            long typeStart = 0, typeLength = 0, roleStart = 0, roleLength = 0;
            ValueRange content = default;
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                reader.Read();
                while (reader.TokenType == JsonTokenType.PropertyName)
                {
                    ItemField field = s_itemKeys.Classify(ref reader);
                    reader.Read();
                    long start = items.Start + reader.TokenStartIndex;
                    JsonTokenType t = reader.TokenType;
                    if (field is ItemField.Type or ItemField.Role && t == JsonTokenType.String)
                    {
                        if (field == ItemField.Type)
                        {
                            typeStart = start;
                            typeLength = GoJsonReader.RawLength(ref reader);
                        }
                        else
                        {
                            roleStart = start;
                            roleLength = GoJsonReader.RawLength(ref reader);
                        }
                    }
                    else
                    {
                        reader.Skip();
                        if (field == ItemField.Content)
                        {
                            content = new ValueRange(start, items.Start + reader.BytesConsumed - start, GoJsonReader.KindOf(t));
                        }
                    }

                    reader.Read();
                }
            }

            sink.Write((byte)'{');
            bool any = false;
            if (typeLength > 0)
            {
                sink.Write("\"type\":\""u8);
                WriteRawString(body, typeStart, typeLength, ref sink);
                sink.Write((byte)'"');
                any = true;
            }

            if (roleLength > 0)
            {
                sink.Write(any ? ",\"role\":\""u8 : "\"role\":\""u8);
                WriteRawString(body, roleStart, roleLength, ref sink);
                sink.Write((byte)'"');
                any = true;
            }

            if (content.IsNonNull)
            {
                sink.Write(any ? ",\"content\":"u8 : "\"content\":"u8);
                WriteGoValue(body, parsed, content, ref sink);
            }

            sink.Write((byte)'}');
        }

        sink.Write((byte)']');
    }

    private enum ItemField
    {
        Other,
        Type,
        Role,
        Content,
    }
}
