using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace FastEpp.Sim.Http;

/// <summary>
/// Writes one request's answers in vLLM's OpenAI shapes straight into the response pipe: SSE chunks (one per token
/// by default, the last one carrying finish_reason, then the usage chunk when asked, then <c>[DONE]</c>) or one JSON
/// body. The envelope (<c>id</c>, <c>object</c>, <c>created</c>, <c>model</c>) is formatted once per request; token
/// text needs no escaping (<see cref="TokenText"/>).
/// </summary>
internal sealed class ResponseFormat
{
    private readonly bool _chat;
    private readonly long _id;
    private readonly int _seed;
    private readonly byte[] _envelope;   // {"id":"...","object":"...","created":N,"model":"..."

    /// <summary>Formats the envelope for a request.</summary>
    public ResponseFormat(bool chat, long id, long created, byte[] encodedModel, int replica, int seed)
    {
        _chat = chat;
        _id = id;
        _seed = seed;
        var sb = new StringBuilder(128);
        sb.Append(chat ? "{\"id\":\"chatcmpl-" : "{\"id\":\"cmpl-").Append(replica).Append('-').Append(id)
          .Append(chat ? "\",\"object\":\"chat.completion.chunk\",\"created\":" : "\",\"object\":\"text_completion\",\"created\":")
          .Append(created).Append(",\"model\":\"");
        byte[] head = Encoding.UTF8.GetBytes(sb.ToString());
        _envelope = [.. head, .. encodedModel, (byte)'"'];
    }

    /// <summary>Chat only: the first chunk with the assistant role.</summary>
    public void WriteRoleChunk(IBufferWriter<byte> w)
    {
        if (!_chat)
        {
            return;
        }
        Put(w, "data: "u8);
        Put(w, _envelope);
        Put(w, ",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"u8);
    }

    /// <summary>One chunk with tokens [from, from + count); a non-empty <paramref name="finishReason"/> marks the last one.</summary>
    public void WriteTokenChunk(IBufferWriter<byte> w, int from, int count, ReadOnlySpan<byte> finishReason)
    {
        Put(w, "data: "u8);
        Put(w, _envelope);
        Put(w, _chat ? ",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""u8 : ",\"choices\":[{\"index\":0,\"text\":\""u8);
        PutTokens(w, from, count);
        Put(w, _chat ? "\"},\"logprobs\":null,\"finish_reason\":"u8 : "\",\"logprobs\":null,\"finish_reason\":"u8);
        PutReason(w, finishReason);
        Put(w, _chat ? "}]}\n\n"u8 : ",\"stop_reason\":null}]}\n\n"u8);
    }

    /// <summary>The final usage chunk (<c>stream_options.include_usage</c>): empty choices plus usage.</summary>
    public void WriteUsageChunk(IBufferWriter<byte> w, int promptTokens, int completionTokens, int cachedTokens)
    {
        Put(w, "data: "u8);
        Put(w, _envelope);
        Put(w, ",\"choices\":[],"u8);
        PutUsage(w, promptTokens, completionTokens, cachedTokens);
        Put(w, "}\n\n"u8);
    }

    /// <summary>The non-streaming body.</summary>
    public void WriteCompletion(IBufferWriter<byte> w, int generated, bool stop, int promptTokens, int cachedTokens)
    {
        ReadOnlySpan<byte> envelope = _envelope;
        if (_chat)
        {
            // Same envelope with object "chat.completion" instead of "chat.completion.chunk".
            int at = envelope.IndexOf("chat.completion.chunk"u8);
            Put(w, envelope[..(at + "chat.completion".Length)]);
            Put(w, envelope[(at + "chat.completion.chunk".Length)..]);
            Put(w, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""u8);
        }
        else
        {
            Put(w, envelope);
            Put(w, ",\"choices\":[{\"index\":0,\"text\":\""u8);
        }
        PutTokens(w, 0, generated);
        Put(w, _chat ? "\"},\"logprobs\":null,\"finish_reason\":"u8 : "\",\"logprobs\":null,\"finish_reason\":"u8);
        PutReason(w, stop ? "stop"u8 : "length"u8);
        Put(w, _chat ? "}],"u8 : ",\"stop_reason\":null}],"u8);
        PutUsage(w, promptTokens, generated, cachedTokens);
        Put(w, "}"u8);
    }

    private void PutTokens(IBufferWriter<byte> w, int from, int count)
    {
        const int batch = 256;
        while (count > 0)
        {
            int n = Math.Min(count, batch);
            Span<byte> span = w.GetSpan(n * TokenText.TokenBytes);
            TokenText.Write(_seed, _id, from, n, span);
            w.Advance(n * TokenText.TokenBytes);
            from += n;
            count -= n;
        }
    }

    private static void PutReason(IBufferWriter<byte> w, ReadOnlySpan<byte> reason)
    {
        if (reason.IsEmpty)
        {
            Put(w, "null"u8);
            return;
        }
        Put(w, "\""u8);
        Put(w, reason);
        Put(w, "\""u8);
    }

    private static void PutUsage(IBufferWriter<byte> w, int prompt, int completion, int cached)
    {
        Put(w, "\"usage\":{\"prompt_tokens\":"u8);
        PutInt(w, prompt);
        Put(w, ",\"total_tokens\":"u8);
        PutInt(w, prompt + completion);
        Put(w, ",\"completion_tokens\":"u8);
        PutInt(w, completion);
        Put(w, ",\"prompt_tokens_details\":{\"cached_tokens\":"u8);
        PutInt(w, Math.Max(0, cached));
        Put(w, "}}"u8);
    }

    private static void PutInt(IBufferWriter<byte> w, long value)
    {
        Span<byte> span = w.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out int n);
        w.Advance(n);
    }

    private static void Put(IBufferWriter<byte> w, ReadOnlySpan<byte> bytes)
    {
        Span<byte> span = w.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        w.Advance(bytes.Length);
    }
}
