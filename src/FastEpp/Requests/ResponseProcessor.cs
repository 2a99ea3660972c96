using System.Buffers;
using System.Diagnostics;
using FastEpp.Body;
using Google.Protobuf;

namespace FastEpp.Requests;

/// <summary>
/// What happens to the model server's response (spec extproc.md §2.6–§2.10): streaming detection, usage
/// from SSE events or the buffered JSON body, the client's model name put back, the response metrics, and
/// the end of the request's in-flight accounting. Knows nothing of ext_proc messages; one per stream, pooled.
/// </summary>
internal sealed class ResponseProcessor(RequestServices services, InferenceRequest request)
{
    private Usage _usage;
    private long _responseBytes;

    /// <summary>Token usage seen so far (complete once the response is).</summary>
    public Usage Usage => _usage;

    /// <summary>The whole response has been seen (its accounting released).</summary>
    public bool IsComplete { get; private set; }

    /// <summary>SSE: chunks are forwarded as they come; otherwise the body is buffered to its end.</summary>
    public bool IsStreaming => request.StreamingResponse;

    /// <summary>
    /// Response dynamic metadata the request-attribute-reporters wrote when the response completed (null when
    /// none did); the stream attaches it to the last body piece (spec §2.8).
    /// </summary>
    public Google.Protobuf.WellKnownTypes.Struct? CompletionMetadata { get; private set; }

    /// <summary>One response header (§2.6).</summary>
    public void InspectHeader(string key, ReadOnlySpan<byte> rawValue)
    {
        // Streaming detection looks at raw_value only, exact lowercase key, case-sensitive substring.
        if (key == HeaderNames.ContentType && UsageParser.IsEventStream(rawValue))
            request.StreamingResponse = true;
        // The reference checks the key "status" (Envoy sends ":status"), so with Envoy this never fires.
        else if (key == HeaderNames.Status && !rawValue.SequenceEqual("200"u8))
            request.ErrorCode = "ModelServerError";
    }

    /// <summary>Counts a received body chunk (every chunk, streamed or buffered).</summary>
    public void Received(int bytes) => _responseBytes += bytes;

    /// <summary>§2.8, streaming: usage from the chunk's events, the model name restored; the chunk to forward.</summary>
    public ByteString StreamedChunk(ByteString chunk, bool endOfStream)
    {
        if (endOfStream)
            MarkComplete();
        services.Parser.ParseStreamingResponse(chunk.Span, ref _usage);
        if (endOfStream)
        {
            RecordMetrics();
            Report();
        }
        return RestoreModel(chunk);
    }

    /// <summary>§2.8 / §2.10: the response is complete; usage from the buffered body (unless streaming); the body to forward.</summary>
    public ReadOnlySequence<byte> Complete(ReadOnlySequence<byte> whole)
    {
        MarkComplete();
        if (!IsStreaming)
            services.Parser.ParseResponse(whole, ref _usage);
        RecordMetrics();
        Report();
        if (NeedsModelRestored && !whole.IsEmpty)
            return new ReadOnlySequence<byte>(RestoreModel(ByteString.CopyFrom(whole.ToArray())).Memory);
        return whole;
    }

    private bool NeedsModelRestored =>
        request.TargetModel.Length > 0 && request.IncomingModel.Length > 0
        && !string.Equals(request.TargetModel, request.IncomingModel, StringComparison.Ordinal);

    // §2.9: put the client's model name back into the response.
    private ByteString RestoreModel(ByteString chunk)
    {
        if (!NeedsModelRestored || chunk.Length == 0)
            return chunk;
        var writer = new ArrayBufferWriter<byte>(chunk.Length + 64);
        return ResponseModelRewriter.RewriteModelInResponse(chunk.Span, request.TargetModel, request.IncomingModel, writer)
            ? ByteString.CopyFrom(writer.WrittenSpan)
            : chunk;
    }

    private void Report()
    {
        if (services.Reporters.Length > 0)
            CompletionMetadata = RequestAttributeReporter.Report(services.Reporters, _usage);
    }

    private void MarkComplete()
    {
        if (IsComplete)
            return;
        IsComplete = true;
        request.Release();
    }

    /// <summary>The response is complete and its usage parsed: latency, NTPOT, sizes and token counts.</summary>
    private void RecordMetrics()
    {
        if (!request.Running && !request.ResponseOnly)
            return;
        if (_usage.Present)
            services.Metrics.UsageSeen(request.IncomingModel, request.TargetModel, _usage);
        services.Metrics.ResponseComplete(request.IncomingModel, request.TargetModel,
            Stopwatch.GetElapsedTime(request.ReceivedAt).TotalSeconds, _responseBytes, _usage.CompletionTokens);
    }

    public void Reset()
    {
        _usage = default;
        _responseBytes = 0;
        IsComplete = false;
        CompletionMetadata = null;
    }
}
