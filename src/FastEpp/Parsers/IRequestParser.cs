using System.Buffers;
using FastEpp.Body;
using FastEpp.Scheduling;

namespace FastEpp.Parsers;

/// <summary>
/// The configured parser (EndpointPickerConfig <c>parser.pluginRef</c>, spec scheduling.md §2.11): how a request
/// body becomes what scheduling needs, and how the response yields its usage. One instance serves every stream,
/// so implementations keep no per-request state (the caller owns <see cref="ParsedRequest"/> and <see cref="Usage"/>).
/// </summary>
internal interface IRequestParser : IPlugin
{
    /// <summary>Parses a complete request body for <paramref name="api"/>; on failure <paramref name="error"/> is the client-facing text.</summary>
    ParseStatus ParseRequest(in ReadOnlySequence<byte> body, ApiKind api, ParsedRequest into, out string? error);

    /// <summary>A streamed (SSE) response chunk: updates <paramref name="usage"/> when the chunk carries it.</summary>
    void ParseStreamingResponse(ReadOnlySpan<byte> chunk, ref Usage usage);

    /// <summary>A buffered response body, whole: updates <paramref name="usage"/>.</summary>
    void ParseResponse(in ReadOnlySequence<byte> body, ref Usage usage);
}
