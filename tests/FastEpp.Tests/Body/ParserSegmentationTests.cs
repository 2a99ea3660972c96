using System.Buffers;
using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.Body;

namespace FastEpp.Tests.Body;

/// <summary>The body arrives as many Envoy chunks: any segmentation must give the same result.</summary>
public class ParserSegmentationTests
{
    /// <summary>Everything observable about one parse (+ prefix input), for equality checks.</summary>
    internal static string Snapshot(in ReadOnlySequence<byte> body, TestApi api)
    {
        var r = new ParsedRequest();
        ParseStatus status = OpenAiRequestParser.Parse(body, (ApiKind)api, r, out string? message);
        var sb = new StringBuilder();
        sb.Append(status).Append('|').Append(message).Append('|').Append(r.HasModel).Append(r.Model).Append('@')
            .Append(r.ModelValueOffset).Append('+').Append(r.ModelValueLength).Append('|').Append(r.Stream)
            .Append('|').Append(r.CacheSalt).Append('|').Append(r.MaxTokens).Append('|').Append(r.HasStreamOptionsIncludeUsage)
            .Append('|').Append(r.PromptCharsEstimate).Append('|').Append(r.ElementCount)
            .Append('|').Append(r.Prompt).Append(r.Messages).Append(r.Input).Append(r.Instructions).Append(r.Tools).Append(r.Items);
        if (status == ParseStatus.Ok)
        {
            using var output = new ArrayPoolBufferWriter<byte>();
            RequestBodyWriter.WritePrefixInput(body, r, output);
            sb.Append("|U=").Append(Convert.ToHexString(System.IO.Hashing.XxHash64.Hash(output.WrittenSpan))).Append(':').Append(output.WrittenCount);
        }

        return sb.ToString();
    }

    public static IEnumerable<object[]> Corpus()
    {
        yield return new object[] { TestApi.ChatCompletions, BodyCorpus.ChatBody(4000) };
        yield return new object[] { TestApi.ChatCompletions, "{\"model\":\"m\\u00e9\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\\ud83d\\ude00b\"}]}],\"cache_salt\":\"s\\n\"}" };
        yield return new object[] { TestApi.Completions, "{\"model\":\"x\",\"prompt\":[\"a\\\"b\",\"c\\\\d\",\"日本\"],\"max_tokens\":5,\"stream\":true}" };
        yield return new object[] { TestApi.Completions, "{\"prompt\":[1,2,3],\"x\":[1e308,-1E-400]}" };
        yield return new object[] { TestApi.Responses, "{\"input\":[{\"z\":1,\"a\":{\"q\":[true,null,\"\\u003c\"]}}],\"instructions\":{\"b\":2,\"a\":1},\"tools\":[]}" };
        yield return new object[] { TestApi.Conversations, "{\"items\":[{\"type\":\"message\",\"content\":{\"y\":0.5,\"x\":\"\\u2028\"}}]}" };
        yield return new object[] { TestApi.Embeddings, "{\"input\":[\"emb\\u00e9\",\"x\"],\"model\":\"e\"}" };
        yield return new object[] { TestApi.Completions, "{\"prompt\":\"x\",\"n\":12345678901234567890123456789e400}" };
        yield return new object[] { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}], \"bad\": [1, 2,, 3]}" };
        yield return new object[] { TestApi.ChatCompletions, "{\"messages\":[{\"content\":5}]}" };
        yield return new object[] { TestApi.Completions, "{\"prompt\":\"unterminated" };
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public void Parse_AnySegmentation_IdenticalResult(TestApi api, string json)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        string expected = Snapshot(new ReadOnlySequence<byte>(bytes), api);
        Assert.Equal(expected, Snapshot(SequenceFactory.Chunked(bytes, 1), api));
        Assert.Equal(expected, Snapshot(SequenceFactory.Chunked(bytes, 31 * 1024), api));
        var rng = new Random(json.Length);
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(expected, Snapshot(SequenceFactory.Random(bytes, rng, 1 + rng.Next(64)), api));
        }
    }

    [Theory]
    [InlineData(220 * 1024)]
    [InlineData(8 * 1024 * 1024)]
    public void Parse_LargeChatBodies_SameAsSingleSegment(int size)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(BodyCorpus.ChatBody(size));
        string single = Snapshot(new ReadOnlySequence<byte>(bytes), TestApi.ChatCompletions);
        Assert.StartsWith("Ok||True", single);
        Assert.Equal(single, Snapshot(SequenceFactory.Chunked(bytes, 31 * 1024), TestApi.ChatCompletions));
        Assert.Equal(single, Snapshot(SequenceFactory.Random(bytes, new Random(size), 64 * 1024), TestApi.ChatCompletions));
        if (size <= 256 * 1024)
        {
            Assert.Equal(single, Snapshot(SequenceFactory.Chunked(bytes, 1), TestApi.ChatCompletions));
        }
    }

    [Fact]
    public void Parse_LargeCompletionsPrompt_PrefixInputIsPromptText()
    {
        string text = BodyCorpus.Text(400 * 1024, 7);
        byte[] bytes = Encoding.UTF8.GetBytes("{\"model\":\"m\",\"prompt\":\"" + text + "\"}");
        ReadOnlySequence<byte> seq = SequenceFactory.Chunked(bytes, 31 * 1024);
        var r = new ParsedRequest();
        Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(seq, ApiKind.Completions, r, out _));
        using var output = new ArrayPoolBufferWriter<byte>();
        RequestBodyWriter.WritePrefixInput(seq, r, output);
        string expected = System.Text.Json.JsonSerializer.Deserialize<string>("\"" + text + "\"", PromptJson.Default.String)!;
        Assert.Equal(expected, Encoding.UTF8.GetString(output.WrittenSpan));
        Assert.Equal(Encoding.UTF8.GetByteCount(expected), r.PromptCharsEstimate);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class PromptJson : System.Text.Json.Serialization.JsonSerializerContext;
