using System.Buffers;
using FastEpp.Body;
using FastEpp.Configuration;
using FastEpp.Requests;
using FastEpp.Scheduling;

namespace FastEpp.Parsers;

/// <summary>
/// <c>openai-parser</c> (the default): OpenAI JSON request bodies by API kind (Body/OpenAiRequestParser, one
/// Utf8JsonReader pass, Go-compatible error texts) and usage from SSE chunks or the buffered JSON response.
/// </summary>
internal sealed class OpenAiParser(string name) : Plugin(name), IRequestParser
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("openai-parser", static (n, _, _) => new OpenAiParser(n));

    /// <summary>The instance used when no config names a parser (tests, injected schedulers).</summary>
    public static readonly OpenAiParser Default = new("openai-parser");

    private static readonly string[] s_protocols = [AppProtocols.Http, AppProtocols.H2C];

    public override string TypeName => Type.Name;

    public IReadOnlyList<string> SupportedAppProtocols => s_protocols;

    /// <summary>API kind from the first non-empty of <c>:path</c>, <c>x-original-path</c>, <c>x-forwarded-path</c> (spec §4.1 step 2).</summary>
    public ParseStatus ParseRequest(in ReadOnlySequence<byte> body, IReadOnlyDictionary<string, string> headers, ParsedRequest into, out string? error) =>
        ParseRequest(body, ApiPaths.Detect(Header(headers, HeaderNames.Path), Header(headers, HeaderNames.OriginalPath), Header(headers, HeaderNames.ForwardedPath)),
            into, out error);

    /// <summary>Parses a complete request body for <paramref name="api"/>.</summary>
    public ParseStatus ParseRequest(in ReadOnlySequence<byte> body, ApiKind api, ParsedRequest into, out string? error) =>
        OpenAiRequestParser.Parse(body, api, into, out error);

    public void ParseStreamingResponse(ReadOnlySpan<byte> chunk, ref Usage usage) => UsageParser.ParseSseChunk(chunk, ref usage);

    public void ParseResponse(in ReadOnlySequence<byte> body, ref Usage usage) => UsageParser.ParseJson(body, ref usage);

    private static string? Header(IReadOnlyDictionary<string, string> headers, string key) => headers.TryGetValue(key, out var v) ? v : null;
}
