using System.Net;
using FastEpp.ExtProcClient;

namespace FastEpp.Gateway;

/// <summary>
/// The upstream request body in FULL_DUPLEX_STREAMED mode: the EPP's <c>request_body</c> streamed responses,
/// written upstream as they are read from the ext_proc stream (no buffering in the gateway). Nothing is read
/// before the upstream connection exists, so a connect failure can still fall back to the next endpoint
/// (<see cref="Started"/> tells whether that is still possible).
/// </summary>
internal sealed class EppBodyContent : HttpContent
{
    private readonly ExtProcStream _stream;
    private readonly CancellationToken _cancellationToken;

    public EppBodyContent(ExtProcStream stream, CancellationToken cancellationToken)
    {
        _stream = stream;
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
        await _stream.ReadRequestBodyAsync(async (piece, ct) =>
        {
            if (piece.IsEmpty)
                return;
            await stream.WriteAsync(piece, ct).ConfigureAwait(false);
            BytesWritten += piece.Length;
        }, linked.Token).ConfigureAwait(false);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false; // Content-Length comes from the EPP's header mutation when it sent one; chunked otherwise
    }
}
