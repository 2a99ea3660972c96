using System.Buffers;
using FastEpp.Body;
using FastEpp.Configuration;
using FastEpp.Scheduling;

namespace FastEpp.Parsers;

/// <summary>
/// <c>passthrough-parser</c> (spec extproc.md §4.8): any body of any content type is accepted and forwarded
/// byte-identical; no model, no stream flag (a response streams only when its content-type says
/// <c>text/event-stream</c>), no usage ever. Scheduling runs on what is known: headers, the subset hint,
/// endpoint metrics. Serves every appProtocol.
/// </summary>
internal sealed class PassthroughParser(string name) : Plugin(name), IRequestParser
{
    /// <summary>Its EndpointPickerConfig type (no parameters).</summary>
    public static readonly PluginType Type = new("passthrough-parser", static (n, _, _) => new PassthroughParser(n));

    public override string TypeName => Type.Name;

    public IReadOnlyList<string> SupportedAppProtocols => Array.Empty<string>();

    public ParseStatus ParseRequest(in ReadOnlySequence<byte> body, IReadOnlyDictionary<string, string> headers, ParsedRequest into, out string? error)
    {
        error = null;
        into.Format = BodyFormat.Opaque;
        return ParseStatus.Ok;
    }

    public void ParseStreamingResponse(ReadOnlySpan<byte> chunk, ref Usage usage)
    {
    }

    public void ParseResponse(in ReadOnlySequence<byte> body, ref Usage usage)
    {
    }
}
