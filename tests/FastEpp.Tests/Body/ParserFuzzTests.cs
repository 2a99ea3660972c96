using System.Buffers;
using System.Text;
using System.Text.Json;
using FastEpp.Body;
using FastEpp.GoCompat;

namespace FastEpp.Tests.Body;

/// <summary>
/// Random and mutated inputs: the parser never throws, its syntax verdict agrees with JsonDocument (the
/// oracle) and with the Go scanner model, and any segmentation gives the same answer.
/// </summary>
public class ParserFuzzTests
{
    private static readonly string[] s_seeds =
    [
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"stream\":true}",
        "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"],\"max_tokens\":7,\"cache_salt\":\"s\"}",
        "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"x\"}]}],\"instructions\":\"i\"}",
        "{\"items\":[{\"type\":\"message\",\"role\":\"user\",\"content\":\"c\"}],\"metadata\":{\"a\":1.5e3}}",
        "{\"input\":[1,2,3],\"model\":\"e\\u00e9\"}",
        "{\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}},null]}],\"tools\":[]}",
    ];

    private static readonly byte[] s_alphabet = Encoding.UTF8.GetBytes("{}[]:,\"\\ntfrueals0123456789.-+eEu \t\r\nabcxyz\u00e9");

    private static bool OracleValid(byte[] body)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = GoJsonSyntax.MaxDepth });
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool IsSyntaxError(ParseStatus status, string? message) =>
        status == ParseStatus.InvalidJson && message is not null && !message.Contains("json: cannot unmarshal", StringComparison.Ordinal);

    private static byte[] Mutate(byte[] seed, Random rng)
    {
        var list = new List<byte>(seed);
        int edits = rng.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            int op = rng.Next(4);
            int at = list.Count == 0 ? 0 : rng.Next(list.Count);
            switch (op)
            {
                case 0 when list.Count > 0:
                    list.RemoveAt(at);
                    break;
                case 1:
                    list.Insert(at, s_alphabet[rng.Next(s_alphabet.Length)]);
                    break;
                case 2 when list.Count > 0:
                    list[at] = (byte)rng.Next(256);
                    break;
                default:
                    if (list.Count > 0)
                    {
                        list.RemoveRange(at, list.Count - at);
                    }

                    break;
            }
        }

        return list.ToArray();
    }

    private static byte[] RandomJsonish(Random rng)
    {
        int n = rng.Next(0, 40);
        var bytes = new byte[n];
        for (int i = 0; i < n; i++)
        {
            bytes[i] = s_alphabet[rng.Next(s_alphabet.Length)];
        }

        return bytes;
    }

    [Fact]
    public void Parse_MutatedAndRandomInputs_NeverThrowsAndAgreesWithOracle()
    {
        var rng = new Random(20260617);
        TestApi[] apis = Enum.GetValues<TestApi>();
        int valid = 0;
        for (int i = 0; i < 6000; i++)
        {
            byte[] body = i % 3 == 0 ? RandomJsonish(rng) : Mutate(Encoding.UTF8.GetBytes(s_seeds[rng.Next(s_seeds.Length)]), rng);
            TestApi api = apis[rng.Next(apis.Length)];
            var result = new ParsedRequest();
            ParseStatus status = OpenAiRequestParser.Parse(new ReadOnlySequence<byte>(body), (ApiKind)api, result, out string? message);

            bool oracle = OracleValid(body);
            string? goText = GoJsonSyntax.Describe(new ReadOnlySequence<byte>(body));
            string input = Convert.ToHexString(body);
            Assert.True(oracle == (goText is null), $"Go scanner model disagrees with JsonDocument on {input}: {goText}");
            Assert.True(oracle == !IsSyntaxError(status, message), $"parser disagrees with JsonDocument on {input}: {status} {message}");
            Assert.Equal(status == ParseStatus.Ok, message is null);
            if (!oracle)
            {
                Assert.Equal("error unmarshaling request bodyMap: " + goText, message);
            }
            else
            {
                valid++;
            }

            if (i % 10 == 0)
            {
                string expected = ParserSegmentationTests.Snapshot(new ReadOnlySequence<byte>(body), api);
                Assert.Equal(expected, ParserSegmentationTests.Snapshot(SequenceFactory.Random(body, rng, 8), api));
            }
        }

        Assert.True(valid > 500, $"only {valid} valid inputs: the fuzzer is not exercising the hot path");
    }
}
