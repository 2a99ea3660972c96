using System.Buffers;
using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.Body;
using FastEpp.Prefix;
using Xunit.Abstractions;

namespace FastEpp.Tests.Body;

/// <summary>
/// Measurement behind keeping Go's <c>json.Marshal</c> form for the prefix-hash input U (issue 13, item 4): the
/// real parser and <see cref="RequestBodyWriter.WritePrefixInput"/> run over the Body corpus and the block chains
/// of U are compared with those of the cheapest alternative, the value's raw bytes as the client sent them.
/// The numbers go to the test output; the assertions pin the findings the decision rests on.
/// </summary>
public sealed class PrefixInputFidelityTests(ITestOutputHelper output)
{
    private const int BlockSizeTokens = PrefixCacheParameters.DefaultBlockSizeTokens;
    private const int MaxBlocks = PrefixCacheParameters.DefaultMaxPrefixBlocksToMatch;

    [Fact]
    public void GoForm_VersusRawBytes_BlockChains()
    {
        int inputs = 0, bytesDiffer = 0, blockCountDiffer = 0;
        long goBytes = 0, rawBytes = 0;
        foreach ((TestApi api, string body) in Corpus())
        {
            if (!TryInputs(api, body, out byte[] go, out byte[] raw))
            {
                continue;
            }

            inputs++;
            goBytes += go.Length;
            rawBytes += raw.Length;
            bytesDiffer += go.AsSpan().SequenceEqual(raw) ? 0 : 1;
            blockCountDiffer += Chain(go).Length != Chain(raw).Length ? 1 : 0;
        }

        output.WriteLine($"corpus inputs: {inputs}; U differs from the raw value bytes in {bytesDiffer}; block count differs in {blockCountDiffer}");
        output.WriteLine($"total U bytes: Go form {goBytes}, raw {rawBytes} (raw/Go = {(double)rawBytes / goBytes:F3})");
        // Raw bytes would move block boundaries (HTML escapes, key order, spacing, extra fields): routing would change.
        Assert.True(bytesDiffer > 0);
    }

    [Fact]
    public void GoForm_VersusRawBytes_MultiTurnAndClientFormatting()
    {
        const int Turns = 12;
        for (int t = 2; t <= Turns; t += 5)
        {
            // Turn t extends turn t-1 (same client, same formatting).
            double goNext = MatchFraction(Inputs(TestApi.ChatCompletions, Conversation(t - 1, spaced: false)).Go, Inputs(TestApi.ChatCompletions, Conversation(t, spaced: false)).Go);
            double rawNext = MatchFraction(Inputs(TestApi.ChatCompletions, Conversation(t - 1, spaced: false)).Raw, Inputs(TestApi.ChatCompletions, Conversation(t, spaced: false)).Raw);

            // The same turn from a client that spaces its JSON (Python json.dumps) after a compact one.
            double goSpaced = MatchFraction(Inputs(TestApi.ChatCompletions, Conversation(t, spaced: false)).Go, Inputs(TestApi.ChatCompletions, Conversation(t, spaced: true)).Go);
            double rawSpaced = MatchFraction(Inputs(TestApi.ChatCompletions, Conversation(t, spaced: false)).Raw, Inputs(TestApi.ChatCompletions, Conversation(t, spaced: true)).Raw);
            output.WriteLine($"turn {t}: next-turn match Go {goNext:P1} raw {rawNext:P1}; compact vs spaced client Go {goSpaced:P1} raw {rawSpaced:P1}");

            Assert.Equal(1.0, goSpaced);
            Assert.True(rawSpaced < 0.05);
        }
    }

    /// <summary>Production U (Go form) and the raw bytes of the same value(s) as sent.</summary>
    private static (byte[] Go, byte[] Raw) Inputs(TestApi api, string json)
    {
        Assert.True(TryInputs(api, json, out byte[] go, out byte[] raw));
        return (go, raw);
    }

    private static bool TryInputs(TestApi api, string json, out byte[] goInput, out byte[] rawInput)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        var seq = new ReadOnlySequence<byte>(bytes);
        var parsed = new ParsedRequest();
        goInput = rawInput = [];
        if (OpenAiRequestParser.Parse(seq, (ApiKind)api, parsed, out _) != ParseStatus.Ok)
        {
            return false;
        }

        using var go = new ArrayPoolBufferWriter<byte>();
        RequestBodyWriter.WritePrefixInput(seq, parsed, go);
        goInput = go.WrittenSpan.ToArray();
        if (api == TestApi.Completions)
        {
            // Completions U is the plain prompt text: no Go encoding to drop.
            rawInput = goInput;
            return true;
        }

        var raw = new List<byte>();
        foreach (ValueRange r in new[] { parsed.Instructions, parsed.Tools, parsed.Messages, parsed.Input, parsed.Items })
        {
            if (r.IsNonNull && !(api == TestApi.ChatCompletions && r == parsed.Tools))
            {
                raw.AddRange(bytes.AsSpan((int)r.Start, (int)r.Length).ToArray());
            }
        }

        rawInput = raw.ToArray();
        return true;
    }

    private static ulong[] Chain(byte[] input)
    {
        var hashes = new ulong[MaxBlocks];
        int n = BlockHasher.ComputeChain("m"u8, default, input, BlockSizeTokens, MaxBlocks, hashes);
        return hashes[..n];
    }

    /// <summary>Share of <paramref name="next"/>'s blocks found as a prefix of <paramref name="cached"/>'s chain (the prefix scorer's input).</summary>
    private static double MatchFraction(byte[] cached, byte[] next)
    {
        ulong[] a = Chain(cached);
        ulong[] b = Chain(next);
        int m = 0;
        while (m < a.Length && m < b.Length && a[m] == b[m])
        {
            m++;
        }

        return b.Length == 0 ? 0 : (double)m / b.Length;
    }

    private static IEnumerable<(TestApi Api, string Body)> Corpus()
    {
        foreach (int size in new[] { 2_000, 8_000, 40_000 })
        {
            yield return (TestApi.ChatCompletions, BodyCorpus.ChatBody(size));
        }

        foreach (object[] row in ParserSegmentationTests.Corpus())
        {
            yield return ((TestApi)row[0], (string)row[1]);
        }

        foreach (object?[] row in RequestBodyWriterTests.PrefixCases)
        {
            yield return ((TestApi)row[0]!, (string)row[1]!);
        }

        for (int t = 1; t <= 12; t++)
        {
            yield return (TestApi.ChatCompletions, Conversation(t, spaced: false));
            yield return (TestApi.ChatCompletions, Conversation(t, spaced: true));
        }
    }

    /// <summary>A chat body with <paramref name="turns"/> user/assistant turns after a system prompt.</summary>
    private static string Conversation(int turns, bool spaced)
    {
        string colon = spaced ? ": " : ":";
        string comma = spaced ? ", " : ",";
        var sb = new StringBuilder();
        sb.Append('{').Append("\"model\"").Append(colon).Append("\"m\"").Append(comma).Append("\"messages\"").Append(colon).Append('[');
        for (int i = 0; i <= turns; i++)
        {
            if (i > 0)
            {
                sb.Append(comma);
            }

            string role = i == 0 ? "system" : i % 2 == 1 ? "user" : "assistant";
            sb.Append('{').Append("\"role\"").Append(colon).Append('"').Append(role).Append('"').Append(comma)
                .Append("\"content\"").Append(colon).Append('"').Append(BodyCorpus.Text(600, i)).Append("\"}");
        }

        return sb.Append("]}").ToString();
    }
}
