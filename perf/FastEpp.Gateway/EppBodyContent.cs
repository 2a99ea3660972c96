using System.Net;
using Envoy.Service.ExtProc.V3;
using Grpc.Core;

namespace FastEpp.Gateway;

/// <summary>
/// The upstream request body in FULL_DUPLEX_STREAMED mode: the EPP's <c>request_body</c> streamed responses,
/// written upstream as they are read from the ext_proc stream (no buffering in the gateway). Nothing is read
/// before the upstream connection exists, so a connect failure can still fall back to the next endpoint
/// (<see cref="Started"/> tells whether that is still possible).
/// </summary>
internal sealed class EppBodyContent : HttpContent
{
    private readonly IAsyncStreamReader<ProcessingResponse> _responses;
    private readonly CancellationToken _cancellationToken;

    public EppBodyContent(IAsyncStreamReader<ProcessingResponse> responses, CancellationToken cancellationToken)
    {
        _responses = responses;
        _cancellationToken = cancellationToken;
    }

    /// <summary>True once the first body message was consumed.</summary>
    public bool Started { get; private set; }

    /// <summary>Bytes written upstream.</summary>
    public long BytesWritten { get; private set; }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        Started = true;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_cancellationToken, cancellationToken);
        while (true)
        {
            if (!await _responses.MoveNext(linked.Token).ConfigureAwait(false))
                throw new IOException("ext_proc stream ended before the request body was complete");
            ProcessingResponse r = _responses.Current;
            if (r.ResponseCase != ProcessingResponse.ResponseOneofCase.RequestBody)
                throw new IOException("unexpected ext_proc message in the request body phase: " + r.ResponseCase);
            StreamedBodyResponse? chunk = r.RequestBody.Response?.BodyMutation?.StreamedResponse;
            if (chunk is null)
                throw new IOException("request_body response without a streamed body mutation");
            if (!chunk.Body.IsEmpty)
            {
                await stream.WriteAsync(chunk.Body.Memory, linked.Token).ConfigureAwait(false);
                BytesWritten += chunk.Body.Length;
            }
            if (chunk.EndOfStream)
                return;
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false; // Content-Length comes from the EPP's header mutation when it sent one; chunked otherwise
    }
}
