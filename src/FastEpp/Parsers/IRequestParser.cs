using System.Buffers;
using FastEpp.Body;
using FastEpp.Scheduling;

namespace FastEpp.Parsers;

/// <summary>
/// The configured parser (EndpointPickerConfig <c>parser.pluginRef</c>, spec scheduling.md §2.11, extproc.md §4):
/// how a request body becomes what scheduling needs, and how the response yields its usage. One instance serves
/// every stream, so implementations keep no per-request state (the caller owns <see cref="ParsedRequest"/> and
/// <see cref="Usage"/>).
/// </summary>
internal interface IRequestParser : IPlugin
{
    /// <summary>
    /// The InferencePool appProtocols the parser can serve (spec §1.6: the health check is NOT_SERVING when the
    /// pool's is not among them); empty = every protocol.
    /// </summary>
    IReadOnlyList<string> SupportedAppProtocols { get; }

    /// <summary>
    /// Parses a complete request body; <paramref name="headers"/> are the request's (key as received: <c>:path</c>
    /// and friends). On failure <paramref name="error"/> is the client-facing text (answered 400).
    /// </summary>
    ParseStatus ParseRequest(in ReadOnlySequence<byte> body, IReadOnlyDictionary<string, string> headers, ParsedRequest into, out string? error);

    /// <summary>A streamed response chunk (SSE, or one gRPC message): updates <paramref name="usage"/> when the chunk carries it.</summary>
    void ParseStreamingResponse(ReadOnlySpan<byte> chunk, ref Usage usage);

    /// <summary>A buffered response body, whole: updates <paramref name="usage"/>.</summary>
    void ParseResponse(in ReadOnlySequence<byte> body, ref Usage usage);
}

/// <summary>The appProtocol names of InferencePool (spec runtime.md §2).</summary>
internal static class AppProtocols
{
    public const string Http = "http";
    public const string H2C = "kubernetes.io/h2c";
}
