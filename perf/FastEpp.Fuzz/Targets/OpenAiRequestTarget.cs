using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using FastEpp.Body;
using FastEpp.Parsers;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// The openai-parser's request side (Parsers/OpenAiParser → Body/OpenAiRequestParser) for every API kind,
/// with System.Text.Json's JsonDocument as the oracle (inputs that are valid UTF-8):
/// InvalidJson exactly when the reference's generic decode fails (syntax, a top level other than object/null,
/// a number overflowing float64); a syntax failure always has a Go scanner text; an accepted body has the
/// oracle's last top-level "model" string and "stream": true; the per-API field exists; and the result
/// does not depend on how the body was chunked.
/// </summary>
internal sealed class OpenAiRequestTarget : FuzzTarget
{
    private static readonly ApiKind[] s_kinds = Enum.GetValues<ApiKind>();
    private readonly ParsedRequest _whole = new();
    private readonly ParsedRequest _chunked = new();

    public override string Name => "openai-request";

    public override string Property =>
        "every ApiKind: accept/reject agrees with System.Text.Json (+ Go's float64 overflow and top-level rules), model/stream equal the oracle's, chunking-invariant";

    public override bool JsonAware => true;

    public override int Run(byte[] input)
    {
        var whole = new ReadOnlySequence<byte>(input);
        bool utf8 = Utf8.IsValid(input);
        Oracle oracle = utf8 ? Oracle.Of(input) : default;
        int sig = 0;
        for (int k = 0; k < s_kinds.Length; k++)
        {
            ApiKind api = s_kinds[k];
            ParseStatus status = OpenAiParser.Default.ParseRequest(whole, api, _whole, out string? error);
            ParseStatus status2 = OpenAiParser.Default.ParseRequest(Segments.Chop(input, k), api, _chunked, out string? error2);
            Check(status == status2 && error == error2,
                $"{api}: chunking changed the result: whole {status} '{error}', chunked {status2} '{error2}'");
            Check((status == ParseStatus.Ok) == (error is null), $"{api}: status {status} with error '{error}'");
            if (status == ParseStatus.Ok)
            {
                Check(_whole.Model == _chunked.Model && _whole.Stream == _chunked.Stream && _whole.HasModel == _chunked.HasModel
                      && _whole.PromptCharsEstimate == _chunked.PromptCharsEstimate && _whole.CacheSalt == _chunked.CacheSalt,
                    $"{api}: chunking changed the extracted fields ('{_whole.Model}' vs '{_chunked.Model}', prompt {_whole.PromptCharsEstimate} vs {_chunked.PromptCharsEstimate})");
            }
            Check(status != ParseStatus.InvalidJson || error!.StartsWith(OpenAiRequestParser.BodyMapErrorPrefix, StringComparison.Ordinal),
                $"{api}: InvalidJson text '{error}'");
            Check(status != ParseStatus.InvalidJson || error != OpenAiRequestParser.BodyMapErrorPrefix + "invalid JSON input",
                $"{api}: the reader rejected a body Go's scanner accepts");
            if (utf8)
                CheckAgainst(oracle, api, status, error);
            sig = sig * 3 + (int)status;
            if (error is not null)
                sig ^= error.Length * 7919;
        }
        return sig;
    }

    private void CheckAgainst(in Oracle o, ApiKind api, ParseStatus status, string? error)
    {
        bool refInvalid = !o.Parsed || o.RootKind is not (JsonValueKind.Object or JsonValueKind.Null) || o.Overflow;
        Check(refInvalid == (status == ParseStatus.InvalidJson),
            $"{api}: oracle says {(refInvalid ? "invalid" : "valid")} JSON (parsed {o.Parsed}, root {o.RootKind}, overflow {o.Overflow}), parser {status} '{error}'");
        if (status != ParseStatus.Ok)
            return;
        Check(o.RootKind == JsonValueKind.Object, $"{api}: accepted a top level {o.RootKind}");
        if (o.ModelKind == JsonValueKind.String && o.Model is not null)
            Check(_whole.HasModel && _whole.Model == o.Model, $"{api}: model '{_whole.Model}' (has {_whole.HasModel}), oracle '{o.Model}'");
        else if (o.ModelKind != JsonValueKind.String)
            Check(!_whole.HasModel, $"{api}: model '{_whole.Model}' from a {o.ModelKind} value");
        Check(_whole.Stream == (o.StreamKind == JsonValueKind.True), $"{api}: stream {_whole.Stream}, oracle {o.StreamKind}");
        string required = api switch
        {
            ApiKind.ChatCompletions => "messages",
            ApiKind.Conversations => "items",
            ApiKind.Responses or ApiKind.Embeddings => "input",
            _ => "prompt",
        };
        Check(o.HasKeyFolded(required), $"{api}: accepted without a '{required}' member");
    }

    /// <summary>What System.Text.Json sees in the body.</summary>
    private readonly struct Oracle
    {
        public bool Parsed { get; init; }
        public JsonValueKind RootKind { get; init; }
        public bool Overflow { get; init; }
        public JsonValueKind ModelKind { get; init; }
        public string? Model { get; init; }
        public JsonValueKind StreamKind { get; init; }
        public string[] Keys { get; init; }

        public bool HasKeyFolded(string key)
        {
            foreach (string k in Keys)
                if (k.Equals(key, StringComparison.OrdinalIgnoreCase) || (k.Length >= key.Length - 2 && k.Any(c => c > 127)))
                    return true;
            return false;
        }

        public static Oracle Of(byte[] input)
        {
            try
            {
                using var doc = JsonDocument.Parse(input, new JsonDocumentOptions { MaxDepth = GoCompat.GoJsonSyntax.MaxDepth });
                var root = doc.RootElement;
                JsonValueKind modelKind = JsonValueKind.Undefined, streamKind = JsonValueKind.Undefined;
                string? model = null;
                var keys = new List<string>();
                if (root.ValueKind == JsonValueKind.Object)
                {
                    foreach (var p in root.EnumerateObject())
                    {
                        string name;
                        try
                        {
                            name = p.Name;
                        }
                        catch (InvalidOperationException)
                        {
                            name = "\uFFFD";
                        }
                        keys.Add(name);
                        if (Is(p, "model"u8))
                        {
                            modelKind = p.Value.ValueKind;
                            model = null;
                            if (modelKind == JsonValueKind.String)
                            {
                                try
                                {
                                    model = p.Value.GetString();
                                }
                                catch (InvalidOperationException)
                                {
                                    model = null; // a lone surrogate escape: Go reads U+FFFD, STJ refuses
                                }
                            }
                        }
                        else if (Is(p, "stream"u8))
                        {
                            streamKind = p.Value.ValueKind;
                        }
                    }
                }
                return new Oracle
                {
                    Parsed = true, RootKind = root.ValueKind, Overflow = Overflows(root), ModelKind = modelKind, Model = model,
                    StreamKind = streamKind, Keys = keys.ToArray(),
                };
            }
            catch (JsonException)
            {
                return new Oracle { Parsed = false, Keys = [] };
            }
        }

        // A name with a lone surrogate escape: STJ refuses to compare it; it is not "model"/"stream" either way.
        private static bool Is(JsonProperty p, ReadOnlySpan<byte> name)
        {
            try
            {
                return p.NameEquals(name);
            }
            catch (InvalidOperationException)
            {
                return false;
            }
        }

        private static bool Overflows(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Number:
                    return double.IsInfinity(double.Parse(e.GetRawText(), System.Globalization.CultureInfo.InvariantCulture));
                case JsonValueKind.Array:
                    foreach (var x in e.EnumerateArray())
                        if (Overflows(x))
                            return true;
                    return false;
                case JsonValueKind.Object:
                    foreach (var p in e.EnumerateObject())
                        if (Overflows(p.Value))
                            return true;
                    return false;
                default:
                    return false;
            }
        }
    }
}
