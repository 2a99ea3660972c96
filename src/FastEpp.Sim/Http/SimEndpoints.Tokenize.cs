using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text.Json;
using FastEpp.Sim.Engine;
using FastEpp.Sim.Hosting;

namespace FastEpp.Sim.Http;

/// <summary>
/// vLLM's tokenizer surface, with the fleet's tokenizer and chat template (../shared/spec/routing.md §4):
/// <list type="bullet">
/// <item><c>POST /tokenize</c>: <c>{model?, prompt, add_special_tokens}</c> or <c>{model?, messages,
/// add_generation_prompt, continue_final_message, add_special_tokens}</c> (chat when <c>messages</c> is present)
/// → <c>{count, max_model_len, tokens, token_strs}</c> (<c>token_strs</c> with <c>return_token_strs</c>, else null).</item>
/// <item><c>POST /detokenize</c>: <c>{model?, tokens}</c> → <c>{prompt}</c>.</item>
/// <item><c>POST /v1/completions/render</c>: a completions body → a JSON array with one GenerateRequest per prompt;
/// <c>POST /v1/chat/completions/render</c>: a chat body → one GenerateRequest
/// <c>{request_id, token_ids, features: null, sampling_params, model, stream, stream_options, cache_salt,
/// priority, kv_transfer_params}</c>.</item>
/// <item><c>POST /reset_prefix_cache</c>: vLLM's prefix-cache reset → <c>{"success": bool}</c>; fails while any
/// request holds KV blocks; on success the replica publishes AllBlocksCleared.</item>
/// </list>
/// The ids are exactly those the engine hashes into KV blocks (and that BlockStored events carry) for the same body.
/// </summary>
internal sealed partial class SimEndpoints
{
    /// <summary>
    /// Reads and tokenizes the body for /tokenize (<paramref name="chat"/> null: chat when it has <c>messages</c>) or a
    /// render route; answers 400 or the unknown-model error itself and returns null then.
    /// </summary>
    private async Task<OpenAiRequest?> ReadTokenizedAsync(HttpContext ctx, bool? chat, ParseMode mode)
    {
        ReadResult read = await ReadBodyAsync(ctx);
        OpenAiRequest? req;
        string? error;
        try
        {
            bool isChat = chat ?? HasTopLevelProperty(read.Buffer, "messages"u8);
            req = OpenAiRequest.Parse(read.Buffer, isChat, _options.Engine.BlockSize, _options.Tokenizer, collectIds: true,
                mode, out error);
        }
        finally
        {
            ctx.Request.BodyReader.AdvanceTo(read.Buffer.End);
        }
        if (req is null)
        {
            await ErrorAsync(ctx, StatusCodes.Status400BadRequest, "BadRequestError", error ?? "bad request");
            return null;
        }
        return await CheckModelAsync(ctx, req.Model) ? req : null;
    }

    private async Task TokenizeAsync(HttpContext ctx)
    {
        OpenAiRequest? req = await ReadTokenizedAsync(ctx, chat: null, ParseMode.Tokenize);
        if (req is null)
        {
            return;
        }
        ReadOnlySpan<uint> ids = req.Tokens.TokenIds;
        ctx.Response.ContentType = "application/json";
        var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteNumber("count"u8, ids.Length);
        w.WriteNumber("max_model_len"u8, _options.Engine.MaxModelLen);
        w.WriteStartArray("tokens"u8);
        foreach (uint id in ids)
        {
            w.WriteNumberValue(id);
        }
        w.WriteEndArray();
        if (req.ReturnTokenStrs)
        {
            w.WriteStartArray("token_strs"u8);
            foreach (uint id in ids)
            {
                w.WriteStringValue(_options.Tokenizer.TokenString(id));
            }
            w.WriteEndArray();
        }
        else
        {
            w.WriteNull("token_strs"u8);
        }
        w.WriteEndObject();
        await w.FlushAsync(ctx.RequestAborted);
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);
    }

    private async Task DetokenizeAsync(HttpContext ctx)
    {
        ReadResult read = await ReadBodyAsync(ctx);
        string? model = null;
        List<uint>? tokens = null;
        string? error = null;
        try
        {
            var reader = new Utf8JsonReader(read.Buffer);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "the request body must be a JSON object";
            }
            while (error is null && reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("tokens"u8))
                {
                    reader.Read();
                    tokens = new List<uint>();
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        error = "tokens must be an array of token ids";
                        break;
                    }
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt32(out uint id))
                        {
                            error = "tokens must be an array of token ids";
                            break;
                        }
                        tokens.Add(id);
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
        }
        finally
        {
            ctx.Request.BodyReader.AdvanceTo(read.Buffer.End);
        }
        error ??= tokens is null ? "the 'tokens' field is required" : null;
        if (error is not null)
        {
            await ErrorAsync(ctx, StatusCodes.Status400BadRequest, "BadRequestError", error);
            return;
        }
        if (!await CheckModelAsync(ctx, model))
        {
            return;
        }
        string prompt;
        if (_options.Tokenizer.Tiktoken is { } tiktoken)
        {
            int[] ids = new int[tokens!.Count];
            for (int i = 0; i < ids.Length; i++)
            {
                ids[i] = (int)tokens[i];
            }
            prompt = tiktoken.Decode(ids) ?? "";
        }
        else
        {
            var sb = new System.Text.StringBuilder();
            foreach (uint id in tokens!)
            {
                sb.Append(_options.Tokenizer.TokenString(id));
            }
            prompt = sb.ToString();
        }
        ctx.Response.ContentType = "application/json";
        var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        w.WriteStartObject();
        w.WriteString("prompt"u8, prompt);
        w.WriteEndObject();
        await w.FlushAsync(ctx.RequestAborted);
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);
    }

    private async Task RenderAsync(HttpContext ctx, Replica replica, bool chat)
    {
        OpenAiRequest? req = await ReadTokenizedAsync(ctx, chat, ParseMode.Render);
        if (req is null)
        {
            return;
        }
        long id = replica.NextRequestId();
        ctx.Response.ContentType = "application/json";
        var w = new Utf8JsonWriter(ctx.Response.BodyWriter);
        if (!chat)
        {
            w.WriteStartArray();
        }
        for (int i = 0; i < req.Prompts.Count; i++)
        {
            string requestId = chat
                ? string.Create(CultureInfo.InvariantCulture, $"chatcmpl-sim-{replica.Index}-{id}")
                : string.Create(CultureInfo.InvariantCulture, $"cmpl-sim-{replica.Index}-{id}-{i}");
            WriteGenerateRequest(w, requestId, req, req.Prompts[i]);
        }
        if (!chat)
        {
            w.WriteEndArray();
        }
        await w.FlushAsync(ctx.RequestAborted);
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);
    }

    private static void WriteGenerateRequest(Utf8JsonWriter w, string requestId, OpenAiRequest req, PromptTokenizer prompt)
    {
        w.WriteStartObject();
        w.WriteString("request_id"u8, requestId);
        w.WriteStartArray("token_ids"u8);
        foreach (uint t in prompt.TokenIds)
        {
            w.WriteNumberValue(t);
        }
        w.WriteEndArray();
        w.WriteNull("features"u8);
        w.WriteStartObject("sampling_params"u8);
        w.WriteNumber("n"u8, 1);
        w.WriteNumber("temperature"u8, req.Temperature ?? 1.0);
        w.WriteNumber("top_p"u8, req.TopP ?? 1.0);
        if (req.Seed is long seed)
        {
            w.WriteNumber("seed"u8, seed);
        }
        else
        {
            w.WriteNull("seed"u8);
        }
        if (req.MaxTokens is int max)
        {
            w.WriteNumber("max_tokens"u8, max);
        }
        else
        {
            w.WriteNull("max_tokens"u8);
        }
        w.WriteEndObject();
        w.WriteString("model"u8, req.Model);
        w.WriteBoolean("stream"u8, req.Stream);
        if (req.Stream && req.IncludeUsage)
        {
            w.WriteStartObject("stream_options"u8);
            w.WriteBoolean("include_usage"u8, true);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("stream_options"u8);
        }
        if (req.CacheSalt is null)
        {
            w.WriteNull("cache_salt"u8);
        }
        else
        {
            w.WriteString("cache_salt"u8, req.CacheSalt);
        }
        w.WriteNumber("priority"u8, req.Priority);
        w.WriteNull("kv_transfer_params"u8);
        w.WriteEndObject();
    }

    private async Task ResetPrefixCacheAsync(HttpContext ctx, Replica replica)
    {
        if (ctx.Request.Query.ContainsKey("reset_running_requests") || ctx.Request.Query.ContainsKey("reset_external"))
        {
            await ErrorAsync(ctx, StatusCodes.Status400BadRequest, "BadRequestError",
                "fastepp-sim does not implement reset_running_requests / reset_external");
            return;
        }
        bool ok;
        lock (replica.Lock)
        {
            ok = replica.Engine.ResetPrefixCache(_clock.Now);
        }
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(ok ? """{"success":true}""" : """{"success":false}""", ctx.RequestAborted);
    }

    // A model, when given, must be one the fleet serves (the base model or an adapter), as for inference.
    private async Task<bool> CheckModelAsync(HttpContext ctx, string? model)
    {
        if (model is null || model == _options.Model || _adapterIndex.ContainsKey(model))
        {
            return true;
        }
        await ErrorAsync(ctx, StatusCodes.Status404NotFound, "NotFoundError", $"The model `{model}` does not exist.");
        return false;
    }

    private static bool HasTopLevelProperty(ReadOnlySequence<byte> body, ReadOnlySpan<byte> name)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals(name))
                {
                    return true;
                }
                reader.Read();
                reader.Skip();
            }
        }
        catch (JsonException)
        {
            // The real parse reports it.
        }
        return false;
    }
}
