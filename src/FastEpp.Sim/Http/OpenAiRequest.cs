using System.Buffers;
using System.Text.Json;
using FastEpp.Sim.Engine;

namespace FastEpp.Sim.Http;

/// <summary>
/// The fields of an OpenAI completions / chat completions body the simulator needs, read in one forward pass with
/// <see cref="Utf8JsonReader"/>; the prompt is tokenised while it is read, never materialised as a string.
/// Chat messages are rendered through a fixed template (<c>&lt;|role|&gt;\n content \n</c>, then
/// <c>&lt;|assistant|&gt;\n</c>) so a shared system prompt gives shared leading KV blocks.
/// </summary>
internal sealed class OpenAiRequest
{
    private static ReadOnlySpan<byte> RoleOpen => "<|"u8;
    private static ReadOnlySpan<byte> RoleClose => "|>\n"u8;
    private static ReadOnlySpan<byte> NewLine => "\n"u8;
    private static ReadOnlySpan<byte> AssistantTurn => "<|assistant|>\n"u8;

    /// <summary>The <c>model</c> field.</summary>
    public string? Model { get; private set; }

    /// <summary>The <c>stream</c> field.</summary>
    public bool Stream { get; private set; }

    /// <summary><c>stream_options.include_usage</c>.</summary>
    public bool IncludeUsage { get; private set; }

    /// <summary><c>max_tokens</c> or <c>max_completion_tokens</c>, when given.</summary>
    public int? MaxTokens { get; private set; }

    /// <summary>Prompt length in tokens.</summary>
    public int PromptTokens { get; private set; }

    /// <summary>The tokenised prompt (block hashes without the adapter key).</summary>
    public PromptTokenizer Tokens { get; private set; } = null!;

    /// <summary>Parses a body; on failure returns null with a client-facing message.</summary>
    public static OpenAiRequest? Parse(ReadOnlySequence<byte> body, bool chat, int blockSize, out string? error)
    {
        var result = new OpenAiRequest { Tokens = new PromptTokenizer(blockSize) };
        error = null;
        bool sawPrompt = false;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the request body must be a JSON object";
                return null;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    result.Model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    result.Stream = reader.TokenType == JsonTokenType.True;
                }
                else if (reader.ValueTextEquals("stream_options"u8))
                {
                    reader.Read();
                    ReadStreamOptions(ref reader, result);
                }
                else if (reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number)
                    {
                        if (!reader.TryGetInt32(out int max) || max < 1)
                        {
                            error = "max_tokens must be a positive integer";
                            return null;
                        }
                        result.MaxTokens = max;
                    }
                    else if (reader.TokenType != JsonTokenType.Null)
                    {
                        error = "max_tokens must be a positive integer";
                        return null;
                    }
                }
                else if (!chat && reader.ValueTextEquals("prompt"u8))
                {
                    reader.Read();
                    sawPrompt = ReadPrompt(ref reader, result.Tokens, out error);
                    if (error is not null)
                    {
                        return null;
                    }
                }
                else if (chat && reader.ValueTextEquals("messages"u8))
                {
                    reader.Read();
                    sawPrompt = ReadMessages(ref reader, result.Tokens, out error);
                    if (error is not null)
                    {
                        return null;
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (JsonException ex)
        {
            error = "invalid JSON: " + ex.Message;
            return null;
        }
        if (string.IsNullOrEmpty(result.Model))
        {
            error = "the 'model' field is required";
            return null;
        }
        if (!sawPrompt)
        {
            error = chat ? "the 'messages' field is required" : "the 'prompt' field is required";
            return null;
        }
        result.PromptTokens = result.Tokens.TokenCount;
        return result;
    }

    private static void ReadStreamOptions(ref Utf8JsonReader reader, OpenAiRequest result)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return;
        }
        while (NextValueOf(ref reader, "include_usage"u8))
            result.IncludeUsage = reader.TokenType == JsonTokenType.True;
    }

    /// <summary>
    /// Moves to the value of the next <paramref name="name"/> property of the object being read, skipping the other
    /// properties; false at the end of the object.
    /// </summary>
    private static bool NextValueOf(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool match = reader.ValueTextEquals(name);
            reader.Read();
            if (match)
                return true;
            reader.Skip();
        }
        return false;
    }

    // prompt: "text" | ["text", ...] | [1, 2, ...] | [[1, 2], ...]; a batch is simulated as one concatenated prompt.
    private static bool ReadPrompt(ref Utf8JsonReader reader, PromptTokenizer tokens, out string? error)
    {
        error = null;
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                FeedString(ref reader, tokens);
                return true;
            case JsonTokenType.StartArray:
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        FeedString(ref reader, tokens);
                    }
                    else if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int t))
                    {
                        tokens.FeedToken(t);
                    }
                    else if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int id))
                        {
                            tokens.FeedToken(id);
                        }
                        if (reader.TokenType != JsonTokenType.EndArray)
                        {
                            error = "prompt token arrays must hold integers";
                            return false;
                        }
                    }
                    else
                    {
                        error = "prompt must be a string, an array of strings or an array of token ids";
                        return false;
                    }
                }
                return true;
            default:
                error = "prompt must be a string, an array of strings or an array of token ids";
                return false;
        }
    }

    private static bool ReadMessages(ref Utf8JsonReader reader, PromptTokenizer tokens, out string? error)
    {
        error = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            error = "messages must be an array";
            return false;
        }
        int count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = "each message must be an object";
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("role"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        tokens.Feed(RoleOpen);
                        FeedString(ref reader, tokens);
                        tokens.Feed(RoleClose);
                    }
                }
                else if (reader.ValueTextEquals("content"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        FeedString(ref reader, tokens);
                    }
                    else if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        ReadContentParts(ref reader, tokens);
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            tokens.Feed(NewLine);
            count++;
        }
        if (count == 0)
        {
            error = "messages must not be empty";
            return false;
        }
        tokens.Feed(AssistantTurn);
        return true;
    }

    // content: [{"type":"text","text":"..."}, ...]; non-text parts are skipped.
    private static void ReadContentParts(ref Utf8JsonReader reader, PromptTokenizer tokens)
    {
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }
            while (NextValueOf(ref reader, "text"u8))
            {
                if (reader.TokenType == JsonTokenType.String)
                    FeedString(ref reader, tokens);
                else
                    reader.Skip();
            }
        }
    }

    private static void FeedString(ref Utf8JsonReader reader, PromptTokenizer tokens)
    {
        if (!reader.HasValueSequence && !reader.ValueIsEscaped)
        {
            tokens.Feed(reader.ValueSpan);
            return;
        }
        int length = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            int written = reader.CopyString(buffer);
            tokens.Feed(buffer.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
