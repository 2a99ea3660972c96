using System.Buffers;
using System.Text.Json;
using FastEpp.Sim.Engine;
using FastEpp.Sim.Tokenization;

namespace FastEpp.Sim.Http;

/// <summary>What a body is parsed for.</summary>
internal enum ParseMode
{
    /// <summary>/v1/completions, /v1/chat/completions: a batch of prompts is simulated as one concatenated prompt.</summary>
    Inference,
    /// <summary>/tokenize: <c>model</c> optional, <c>prompt</c> a string.</summary>
    Tokenize,
    /// <summary>/v1/completions/render, /v1/chat/completions/render: a batch of prompts gives one result each.</summary>
    Render,
}

/// <summary>
/// The fields of an OpenAI completions / chat completions (or vLLM /tokenize) body the simulator needs, read in one
/// forward pass with <see cref="Utf8JsonReader"/>; the prompt is tokenised while it is read (stand-in) or gathered
/// and encoded at the end (real tokenizer). Chat messages are rendered through the tokenizer's chat template
/// (<see cref="SimTokenizer"/>) so a shared system prompt gives shared leading KV blocks; <c>add_generation_prompt</c>
/// (default true) and <c>continue_final_message</c> (default false; the last message is left open) apply as in vLLM.
/// </summary>
internal sealed class OpenAiRequest
{

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

    /// <summary>The tokenised prompt (block hashes without the adapter key); the first of a render batch.</summary>
    public PromptTokenizer Tokens { get; private set; } = null!;

    /// <summary>Every prompt of the body: one, or one per batch item in <see cref="ParseMode.Render"/>.</summary>
    public List<PromptTokenizer> Prompts { get; } = new(1);

    /// <summary><c>add_special_tokens</c> (accepted; neither tokenizer has a BOS/EOS to add).</summary>
    public bool? AddSpecialTokens { get; private set; }

    /// <summary><c>add_generation_prompt</c> (chat; default true).</summary>
    public bool AddGenerationPrompt { get; private set; } = true;

    /// <summary><c>continue_final_message</c> (chat; default false).</summary>
    public bool ContinueFinalMessage { get; private set; }

    /// <summary><c>return_token_strs</c> (/tokenize).</summary>
    public bool ReturnTokenStrs { get; private set; }

    /// <summary><c>temperature</c>, when given.</summary>
    public double? Temperature { get; private set; }

    /// <summary><c>top_p</c>, when given.</summary>
    public double? TopP { get; private set; }

    /// <summary><c>seed</c>, when given.</summary>
    public long? Seed { get; private set; }

    /// <summary><c>cache_salt</c>, when given.</summary>
    public string? CacheSalt { get; private set; }

    /// <summary><c>priority</c> (default 0).</summary>
    public int Priority { get; private set; }

    /// <summary>Parses a body with the stand-in tokenizer (ids not collected); on failure returns null with a client-facing message.</summary>
    public static OpenAiRequest? Parse(ReadOnlySequence<byte> body, bool chat, int blockSize, out string? error) =>
        Parse(body, chat, blockSize, SimTokenizer.StandIn, collectIds: false, ParseMode.Inference, out error);

    /// <summary>Parses a body; on failure returns null with a client-facing message.</summary>
    public static OpenAiRequest? Parse(ReadOnlySequence<byte> body, bool chat, int blockSize, SimTokenizer tokenizer, bool collectIds,
        ParseMode mode, out string? error)
    {
        var result = new OpenAiRequest { Tokens = new PromptTokenizer(blockSize, tokenizer, collectIds) };
        result.Prompts.Add(result.Tokens);
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
                else if (reader.ValueTextEquals("add_special_tokens"u8))
                {
                    result.AddSpecialTokens = ReadBool(ref reader, "add_special_tokens", ref error);
                }
                else if (reader.ValueTextEquals("add_generation_prompt"u8))
                {
                    result.AddGenerationPrompt = ReadBool(ref reader, "add_generation_prompt", ref error) ?? true;
                }
                else if (reader.ValueTextEquals("continue_final_message"u8))
                {
                    result.ContinueFinalMessage = ReadBool(ref reader, "continue_final_message", ref error) ?? false;
                }
                else if (reader.ValueTextEquals("return_token_strs"u8))
                {
                    result.ReturnTokenStrs = ReadBool(ref reader, "return_token_strs", ref error) ?? false;
                }
                else if (reader.ValueTextEquals("temperature"u8))
                {
                    reader.Read();
                    result.Temperature = reader.TokenType == JsonTokenType.Number ? reader.GetDouble() : null;
                }
                else if (reader.ValueTextEquals("top_p"u8))
                {
                    reader.Read();
                    result.TopP = reader.TokenType == JsonTokenType.Number ? reader.GetDouble() : null;
                }
                else if (reader.ValueTextEquals("seed"u8))
                {
                    reader.Read();
                    result.Seed = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long seed) ? seed : null;
                }
                else if (reader.ValueTextEquals("cache_salt"u8))
                {
                    reader.Read();
                    result.CacheSalt = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("priority"u8))
                {
                    reader.Read();
                    result.Priority = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int priority) ? priority : 0;
                }
                else if (!chat && reader.ValueTextEquals("prompt"u8))
                {
                    reader.Read();
                    if (mode == ParseMode.Tokenize && reader.TokenType != JsonTokenType.String)
                    {
                        error = "prompt must be a string";
                        return null;
                    }
                    sawPrompt = ReadPrompt(ref reader, result, mode == ParseMode.Render, out error);
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
        if (error is not null)
        {
            return null;
        }
        if (string.IsNullOrEmpty(result.Model) && mode != ParseMode.Tokenize)
        {
            error = "the 'model' field is required";
            return null;
        }
        if (!sawPrompt)
        {
            error = chat ? "the 'messages' field is required" : "the 'prompt' field is required";
            return null;
        }
        if (chat)
        {
            if (result.ContinueFinalMessage && result.AddGenerationPrompt)
            {
                error = "Cannot set both `continue_final_message` and `add_generation_prompt` to True.";
                return null;
            }
            // The last message stays open with continue_final_message; otherwise it is closed and, by default, the
            // generation prompt follows.
            PromptTokenizer t = result.Tokens;
            if (!result.ContinueFinalMessage)
            {
                t.Feed(t.Tokenizer.MessageEnd);
            }
            if (result.AddGenerationPrompt)
            {
                t.Feed(t.Tokenizer.GenerationPrompt);
            }
        }
        foreach (PromptTokenizer t in result.Prompts)
        {
            t.Finish();
        }
        result.PromptTokens = result.Tokens.TokenCount;
        return result;
    }

    private static bool? ReadBool(ref Utf8JsonReader reader, string name, ref string? error)
    {
        reader.Read();
        switch (reader.TokenType)
        {
            case JsonTokenType.True:
                return true;
            case JsonTokenType.False:
                return false;
            case JsonTokenType.Null:
                return null;
            default:
                error ??= name + " must be a boolean";
                reader.Skip();
                return null;
        }
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
    // With split (render) every string or token array of a batch is its own prompt.
    private static bool ReadPrompt(ref Utf8JsonReader reader, OpenAiRequest result, bool split, out string? error)
    {
        error = null;
        PromptTokenizer tokens = result.Tokens;
        int items = 0;
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                FeedString(ref reader, tokens);
                return true;
            case JsonTokenType.StartArray:
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (split && items++ > 0 && reader.TokenType is JsonTokenType.String or JsonTokenType.StartArray)
                    {
                        tokens = new PromptTokenizer(tokens.BlockSize, tokens.Tokenizer, tokens.CollectsIds);
                        result.Prompts.Add(tokens);
                    }
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
            if (count > 0)
            {
                tokens.Feed(tokens.Tokenizer.MessageEnd);   // closes the previous message; the last one is closed by Parse
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("role"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        tokens.Feed(tokens.Tokenizer.RoleOpen);
                        FeedString(ref reader, tokens);
                        tokens.Feed(tokens.Tokenizer.RoleClose);
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
            count++;
        }
        if (count == 0)
        {
            error = "messages must not be empty";
            return false;
        }
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
