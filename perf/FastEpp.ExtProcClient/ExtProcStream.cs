using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using Google.Protobuf;
using Grpc.Core;
using Metadata = Envoy.Config.Core.V3.Metadata;

namespace FastEpp.ExtProcClient;

/// <summary>
/// One ext_proc <c>Process</c> stream driven the way Envoy drives it in FULL_DUPLEX_STREAMED mode. It sends and
/// reads messages; what to do with the answers (assert, measure, forward) stays with the caller. Not thread-safe
/// for two concurrent senders, like the gRPC call it wraps; one sender and one reader may run at the same time.
/// </summary>
public sealed class ExtProcStream : IDisposable
{
    public ExtProcStream(AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> call) => Call = call;

    /// <summary>Opens a <c>Process</c> stream; <paramref name="cancellationToken"/> cancels the whole call.</summary>
    public static ExtProcStream Open(ExternalProcessor.ExternalProcessorClient client, CancellationToken cancellationToken = default) =>
        new(client.Process(cancellationToken: cancellationToken));

    /// <summary>The underlying call, for what this type does not cover (status, trailers, raw reads).</summary>
    public AsyncDuplexStreamingCall<ProcessingRequest, ProcessingResponse> Call { get; }

    public Task SendAsync(ProcessingRequest message, CancellationToken cancellationToken = default) =>
        Call.RequestStream.WriteAsync(message, cancellationToken);

    public Task SendRequestHeadersAsync(HeaderMap headers, bool endOfStream = false, CancellationToken cancellationToken = default) =>
        SendAsync(EnvoyMessages.RequestHeaders(headers, endOfStream), cancellationToken);

    /// <summary>The request body in <paramref name="chunkBytes"/> pieces, end_of_stream and the metadata on the last.</summary>
    public Task SendRequestBodyAsync(byte[] body, int chunkBytes, Metadata? metadata = null, CancellationToken cancellationToken = default) =>
        SendRequestBodyAsync(EnvoyMessages.Chunk(body, chunkBytes), metadata, cancellationToken);

    /// <summary>Pre-cut request body pieces (see <see cref="EnvoyMessages.Chunk"/>), end_of_stream and the metadata on the last.</summary>
    public async Task SendRequestBodyAsync(IReadOnlyList<ByteString> chunks, Metadata? metadata = null, CancellationToken cancellationToken = default)
    {
        for (int i = 0; i < chunks.Count; i++)
        {
            bool last = i == chunks.Count - 1;
            await SendAsync(EnvoyMessages.RequestBody(chunks[i], last, last ? metadata : null), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Half-closes the stream (Envoy does once it has nothing more to send).</summary>
    public Task CompleteAsync() => Call.RequestStream.CompleteAsync();

    /// <summary>The next reply, or null when the server ended the stream.</summary>
    public async Task<ProcessingResponse?> ReadAsync(CancellationToken cancellationToken = default) =>
        await Call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false) ? Call.ResponseStream.Current : null;

    /// <summary>
    /// Reads <c>request_body</c> replies (streamed body mutations) until the one with end_of_stream, handing each
    /// piece to <paramref name="onPiece"/> (empty pieces included) in order; returns the body's length. Throws
    /// <see cref="IOException"/> when the stream ends early or another kind of message arrives.
    /// </summary>
    public async Task<long> ReadRequestBodyAsync(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask>? onPiece = null,
        CancellationToken cancellationToken = default)
    {
        long total = 0;
        while (true)
        {
            ProcessingResponse r = await ReadAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new IOException("ext_proc stream ended before the request body was complete");
            if (r.ResponseCase != ProcessingResponse.ResponseOneofCase.RequestBody)
                throw new IOException("unexpected ext_proc message in the request body phase: " + r.ResponseCase);
            StreamedBodyResponse chunk = r.RequestBody.Response?.BodyMutation?.StreamedResponse
                ?? throw new IOException("request_body response without a streamed body mutation");
            if (onPiece is not null)
                await onPiece(chunk.Body.Memory, cancellationToken).ConfigureAwait(false);
            total += chunk.Body.Length;
            if (chunk.EndOfStream)
                return total;
        }
    }

    public void Dispose() => Call.Dispose();
}
