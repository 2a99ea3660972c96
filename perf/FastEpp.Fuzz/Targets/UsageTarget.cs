using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using FastEpp.Body;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// The response side of the openai-parser (Body/UsageParser): a buffered JSON body and the same bytes as an
/// SSE chunk. Properties: never throws; the JSON result does not depend on chunking; a body System.Text.Json
/// rejects (valid UTF-8) or without a top-level "usage" member gives no usage; an SSE chunk's usage is the
/// usage of its first data line that has one (lines are independent).
/// </summary>
internal sealed class UsageTarget : FuzzTarget
{
    public override string Name => "usage";

    public override string Property =>
        "JSON body: chunking-invariant, no usage when System.Text.Json rejects it or it has no top-level usage; SSE: chunk = first line with usage";

    public override bool JsonAware => true;

    public override int Run(byte[] input)
    {
        var u1 = default(Usage);
        var u2 = default(Usage);
        bool whole = UsageParser.ParseJson(new ReadOnlySequence<byte>(input), ref u1);
        bool chunked = UsageParser.ParseJson(Segments.Chop(input, 3), ref u2);
        Check(whole == chunked && u1.Equals(u2), $"chunking changed the JSON usage: {whole}/{chunked} {Show(u1)} vs {Show(u2)}");
        Check(whole == u1.Present, $"ParseJson returned {whole} with Present {u1.Present}");

        if (Utf8.IsValid(input))
        {
            try
            {
                using var doc = JsonDocument.Parse(input, new JsonDocumentOptions { MaxDepth = GoCompat.GoJsonSyntax.MaxDepth });
                bool hasUsage = false;
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                    foreach (var p in doc.RootElement.EnumerateObject())
                        if (IsUsage(p))
                            hasUsage = true;
                Check(hasUsage || !whole, $"usage {Show(u1)} from a body without a top-level usage member");
            }
            catch (JsonException)
            {
                Check(!whole, $"usage {Show(u1)} from a body System.Text.Json rejects");
            }
        }

        // SSE: the whole chunk against its lines one by one.
        var sse = default(Usage);
        bool found = UsageParser.ParseSseChunk(input, ref sse);
        var byLine = default(Usage);
        bool foundByLine = false;
        ReadOnlySpan<byte> rest = input;
        while (!rest.IsEmpty && !foundByLine)
        {
            int nl = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = nl < 0 ? rest : rest[..nl];
            rest = nl < 0 ? default : rest[(nl + 1)..];
            foundByLine = UsageParser.ParseSseChunk(line, ref byLine);
        }
        Check(found == foundByLine && sse.Equals(byLine), $"SSE chunk usage {found} {Show(sse)} differs from its lines' {foundByLine} {Show(byLine)}");
        return (whole ? 1 : 0) | (found ? 2 : 0) | (u1.HasCachedTokens ? 4 : 0) | (Math.Sign(u1.PromptTokens) + 1) << 3 | (Math.Sign(sse.TotalTokens) + 1) << 5;
    }

    private static bool IsUsage(JsonProperty p)
    {
        try
        {
            return p.NameEquals("usage"u8);
        }
        catch (InvalidOperationException)
        {
            return false; // a lone surrogate escape in the name
        }
    }

    private static string Show(in Usage u) =>
        $"{{present {u.Present}, prompt {u.PromptTokens}, completion {u.CompletionTokens}, total {u.TotalTokens}, cached {u.CachedTokens}/{u.HasCachedTokens}}}";
}
