using System.Buffers;
using System.Text;
using System.Text.Json;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.Body;

namespace FastEpp.Tests.Body;

/// <summary>
/// Model splice and prefix-hash input (scheduling.md §3.3 step 3; reference approximateprefix/hashing.go
/// getUserInputBytes with the json.Marshal shapes of types.go).
/// </summary>
public class RequestBodyWriterTests
{
    private static string PrefixInput(TestApi api, string json, int segment = 0)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        ReadOnlySequence<byte> seq = segment > 0 ? SequenceFactory.Chunked(bytes, segment) : new ReadOnlySequence<byte>(bytes);
        var parsed = new ParsedRequest();
        Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(seq, (ApiKind)api, parsed, out string? error));
        Assert.Null(error);
        using var output = new ArrayPoolBufferWriter<byte>();
        RequestBodyWriter.WritePrefixInput(seq, parsed, output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    public static TheoryData<TestApi, string, string> PrefixCases => new()
    {
        // Completions: PlainText (Raw, else Strings joined by a space; token ids give "").
        { TestApi.Completions, "{\"prompt\":\"h\\u00e9llo <b>\\n\"}", "héllo <b>\n" },
        { TestApi.Completions, "{\"prompt\":[\"a\",\"b c\",\"\"]}", "a b c " },
        { TestApi.Completions, "{\"prompt\":[1,2,3]}", "" },
        { TestApi.Completions, "{\"prompt\":\"raw\",\"prompt\":[\"x\"]}", "raw" },
        // Chat: []Message; role omitempty; Content raw / blocks / "".
        {
            TestApi.ChatCompletions,
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi <b> & \\u2028\"},{\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y?a=1&b=2\"}}],\"role\":\"assistant\"},null,{\"role\":\"\",\"content\":null},{\"content\":[]}],\"tools\":[{\"type\":\"function\"}]}",
            "[{\"role\":\"user\",\"content\":\"hi \\u003cb\\u003e \\u0026 \\u2028\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"a\",\"image_url\":{},\"input_audio\":{},\"video_url\":{}},{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y?a=1\\u0026b=2\"},\"input_audio\":{},\"video_url\":{}}]},{\"content\":\"\"},{\"content\":\"\"},{\"content\":[]}]"
        },
        {
            TestApi.ChatCompletions,
            "{\"messages\":[{\"CONTENT\":[null,{\"input_audio\":{\"format\":\"wav\",\"data\":\"QUJD\"},\"video_url\":{\"url\":\"v\"},\"extra\":1}],\"Role\":\"system\"}]}",
            "[{\"role\":\"system\",\"content\":[{\"type\":\"\",\"image_url\":{},\"input_audio\":{},\"video_url\":{}},{\"type\":\"\",\"image_url\":{},\"input_audio\":{\"data\":\"QUJD\",\"format\":\"wav\"},\"video_url\":{\"url\":\"v\"}}]}]"
        },
        {
            TestApi.ChatCompletions,
            "{\"messages\":[{\"content\":\"first\",\"content\":[{\"type\":\"text\",\"text\":\"t\"}]},{\"content\":[{\"text\":\"t\"}],\"content\":\"raw wins\"}]}",
            "[{\"content\":\"first\"},{\"content\":\"raw wins\"}]"
        },
        // Responses: [{"instructions"}?, {"tools"}?, {"input"}], values as Go generic values (sorted keys, float64).
        {
            TestApi.Responses,
            "{\"input\":[{\"role\":\"user\",\"content\":\"x\",\"b\":1.50,\"a\":1e21,\"a\":2E-7,\"n\":[1,-0,10000000000000000000000,0.000001]}],\"instructions\":\"be <nice>\",\"tools\":[{\"type\":\"f\",\"z\":null,\"y\":true}]}",
            "[{\"instructions\":\"be \\u003cnice\\u003e\"},{\"tools\":[{\"type\":\"f\",\"y\":true,\"z\":null}]},{\"input\":[{\"a\":2e-7,\"b\":1.5,\"content\":\"x\",\"n\":[1,-0,1e+22,0.000001],\"role\":\"user\"}]}]"
        },
        { TestApi.Responses, "{\"input\":\"just text\",\"instructions\":null,\"tools\":null}", "[{\"input\":\"just text\"}]" },
        { TestApi.Responses, "{\"input\":{\"\\u00e9\":1,\"e\":2,\"E\":3,\"\":4,\"a\\\"b\":5}}", "[{\"input\":{\"\":4,\"E\":3,\"a\\\"b\":5,\"e\":2,\"é\":1}}]" },
        // Conversations: []ConversationItem {type, role, content any}, all omitempty.
        {
            TestApi.Conversations,
            "{\"items\":[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hello\"}]},{\"content\":null,\"type\":\"\"},null,{\"content\":\"\",\"role\":\"r\"}],\"metadata\":{\"k\":\"v\"}}",
            "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"text\":\"hello\",\"type\":\"input_text\"}]},{},{},{\"role\":\"r\",\"content\":\"\"}]"
        },
        // Embeddings: default struct encoding of EmbeddingsInput.
        { TestApi.Embeddings, "{\"input\":[\"a\",\"b\"]}", "{\"Raw\":\"\",\"Strings\":[\"a\",\"b\"],\"TokenIDs\":null}" },
        { TestApi.Embeddings, "{\"input\":[1,2.0,4294967295,1e2]}", "{\"Raw\":\"\",\"Strings\":null,\"TokenIDs\":[1,2,4294967295,100]}" },
        { TestApi.Embeddings, "{\"input\":\"x&y\"}", "{\"Raw\":\"x\\u0026y\",\"Strings\":null,\"TokenIDs\":null}" },
    };

    [Theory]
    [MemberData(nameof(PrefixCases))]
    public void WritePrefixInput_GoEncoding(TestApi api, string body, string expected)
    {
        Assert.Equal(expected, PrefixInput(api, body));
        Assert.Equal(expected, PrefixInput(api, body, segment: 1));
        Assert.Equal(expected, PrefixInput(api, body, segment: 7));
    }

    [Fact]
    public void WritePrefixInput_DeepGenericValue_NoRecursionLimit()
    {
        string deep = new string('[', 9000) + "{\"b\":1,\"a\":2}" + new string(']', 9000);
        string expected = "[{\"input\":" + new string('[', 9000) + "{\"a\":2,\"b\":1}" + new string(']', 9000) + "}]";
        Assert.Equal(expected, PrefixInput(TestApi.Responses, "{\"input\":" + deep + "}"));
    }

    [Fact]
    public void WritePrefixInput_LargeChatPrompt_SameForAnySegmentation()
    {
        string big = BodyCorpus.ChatBody(400 * 1024);
        string single = PrefixInput(TestApi.ChatCompletions, big);
        Assert.True(single.Length > 390 * 1024);
        Assert.Equal(single, PrefixInput(TestApi.ChatCompletions, big, segment: 31 * 1024));
        Assert.Equal(single, PrefixInput(TestApi.ChatCompletions, big, segment: 1000));
        // The result is the JSON array of the messages: it parses and holds the same texts.
        using JsonDocument doc = JsonDocument.Parse(single);
        Assert.Equal(JsonValueKind.Array, doc.RootElement.ValueKind);
    }

    [Theory]
    [InlineData("{\"model\":\"old\",\"prompt\":\"p\"}", "new-model", "{\"model\":\"new-model\",\"prompt\":\"p\"}")]
    [InlineData("{ \"prompt\" : \"p\" ,\n \"model\" :  \"a\\u0062c\"  }", "x", "{ \"prompt\" : \"p\" ,\n \"model\" :  \"x\"  }")]
    [InlineData("{\"model\":\"a\",\"model\":\"b\",\"prompt\":\"p\"}", "c", "{\"model\":\"a\",\"model\":\"c\",\"prompt\":\"p\"}")]
    [InlineData("{\"model\":\"a\",\"prompt\":\"p\"}", "q\"<é>\\\n", "{\"model\":\"q\\\"\\u003cé\\u003e\\\\\\n\",\"prompt\":\"p\"}")]
    public void WriteWithModel_OnlyModelChanges(string body, string newModel, string expected)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        foreach (ReadOnlySequence<byte> seq in new[] { new ReadOnlySequence<byte>(bytes), SequenceFactory.Chunked(bytes, 1), SequenceFactory.Chunked(bytes, 5) })
        {
            var parsed = new ParsedRequest();
            Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(seq, ApiKind.Completions, parsed, out _));
            using var output = new ArrayPoolBufferWriter<byte>();
            RequestBodyWriter.WriteWithModel(seq, parsed, newModel, output);
            Assert.Equal(expected, Encoding.UTF8.GetString(output.WrittenSpan));

            // Round trip: the output parses and now carries the new model.
            var reparsed = new ParsedRequest();
            Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(new ReadOnlySequence<byte>(output.WrittenMemory), ApiKind.Completions, reparsed, out _));
            Assert.Equal(newModel, reparsed.Model);
        }
    }

    [Fact]
    public void WriteWithModel_LargeBody_OnlyModelBytesDiffer()
    {
        byte[] bytes = Encoding.UTF8.GetBytes(BodyCorpus.ChatBody(220 * 1024));
        ReadOnlySequence<byte> seq = SequenceFactory.Chunked(bytes, 31 * 1024);
        var parsed = new ParsedRequest();
        Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(seq, ApiKind.ChatCompletions, parsed, out _));
        using var output = new ArrayPoolBufferWriter<byte>();
        RequestBodyWriter.WriteWithModel(seq, parsed, "meta-llama/Llama-3.1-8B-Instruct", output);
        byte[] outBytes = output.WrittenSpan.ToArray();
        string expected = Encoding.UTF8.GetString(bytes).Replace("\"model\":\"food-review\"", "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"", StringComparison.Ordinal);
        Assert.Equal(expected, Encoding.UTF8.GetString(outBytes));
    }

    [Fact]
    public void WriteWithModel_NoModel_CopiesBody()
    {
        byte[] bytes = Encoding.UTF8.GetBytes("{\"prompt\":\"p\"}");
        var parsed = new ParsedRequest();
        OpenAiRequestParser.Parse(new ReadOnlySequence<byte>(bytes), ApiKind.Completions, parsed, out _);
        using var output = new ArrayPoolBufferWriter<byte>();
        RequestBodyWriter.WriteWithModel(new ReadOnlySequence<byte>(bytes), parsed, "x", output);
        Assert.Equal(bytes, output.WrittenSpan.ToArray());
    }
}
