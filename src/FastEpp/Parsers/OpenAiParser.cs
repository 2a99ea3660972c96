using System.Buffers;
using FastEpp.Body;
using FastEpp.Configuration;
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

    public override string TypeName => Type.Name;

    public ParseStatus ParseRequest(in ReadOnlySequence<byte> body, ApiKind api, ParsedRequest into, out string? error) =>
        OpenAiRequestParser.Parse(body, api, into, out error);

    public void ParseStreamingResponse(ReadOnlySpan<byte> chunk, ref Usage usage) => UsageParser.ParseSseChunk(chunk, ref usage);

    public void ParseResponse(in ReadOnlySequence<byte> body, ref Usage usage) => UsageParser.ParseJson(body, ref usage);
}
