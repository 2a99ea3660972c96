using System.Buffers;
using System.Text;
using System.Text.Json;
using FastEpp.Body;

namespace FastEpp.Tests.Body;

/// <summary>
/// Request parsing against the reference: parsers/openai/openai.go (ParseRequest, extractRequestBody),
/// interface/requesthandling/types.go (typed requests) and openai_test.go (TestParseRequest cases), commit
/// 1748e829; Go encoding/json 1.25 for the decode rules and texts.
/// </summary>
public class OpenAiRequestParserTests
{
    private const string Prefix = "error unmarshaling request bodyMap: ";
    private const string Completions = "invalid completions request: must have prompt field";
    private const string Chat = "invalid chat completions request: must have valid messages field";
    private const string Responses = "invalid responses request: must have input field";
    private const string Conversations = "invalid conversations request: must have items field";
    private const string Embeddings = "invalid embeddings request: must have input field";

    internal static (ParseStatus Status, string? Message, ParsedRequest Result) Parse(TestApi api, string json) =>
        Parse(api, Encoding.UTF8.GetBytes(json));

    internal static (ParseStatus Status, string? Message, ParsedRequest Result) Parse(TestApi api, byte[] body)
    {
        var result = new ParsedRequest();
        ParseStatus status = OpenAiRequestParser.Parse(new ReadOnlySequence<byte>(body), (ApiKind)api, result, out string? message);
        return (status, message, result);
    }

    public static TheoryData<TestApi, string, string> BodyMapErrors => new()
    {
        { TestApi.Completions, "", "unexpected end of JSON input" },
        { TestApi.ChatCompletions, "{\"model\":nol}", "invalid character 'o' in literal null (expecting 'u')" },
        { TestApi.Completions, "{\"prompt\":\"x\"", "unexpected end of JSON input" },
        { TestApi.Completions, "[1,2]", "json: cannot unmarshal array into Go value of type map[string]interface {}" },
        { TestApi.Completions, "[1e400]", "json: cannot unmarshal array into Go value of type map[string]interface {}" },
        { TestApi.Responses, "\"text\"", "json: cannot unmarshal string into Go value of type map[string]interface {}" },
        { TestApi.Embeddings, "42", "json: cannot unmarshal number into Go value of type map[string]interface {}" },
        { TestApi.Conversations, "true", "json: cannot unmarshal bool into Go value of type map[string]interface {}" },
        { TestApi.Completions, "[1,2", "unexpected end of JSON input" },
        { TestApi.Completions, "{\"prompt\":\"x\"} {}", "invalid character '{' after top-level value" },
        { TestApi.Completions, "{\"prompt\":\"x\",\"n\":1e400}", "json: cannot unmarshal number 1e400 into Go value of type float64" },
        { TestApi.ChatCompletions, "{\"messages\":\"bad\",\"x\":{\"y\":[-1.5E+999]}}", "json: cannot unmarshal number -1.5E+999 into Go value of type float64" },
        { TestApi.Completions, "{\"a\":1e400,\"b\":2e400}", "json: cannot unmarshal number 1e400 into Go value of type float64" },
        { TestApi.Completions, "{\"a\":1e400, x}", "invalid character 'x' looking for beginning of object key string" },
        { TestApi.Completions, "{\"prompt\":\"a\tb\"}", "invalid character '\\t' in string literal" },
    };

    [Theory]
    [MemberData(nameof(BodyMapErrors))]
    public void Parse_NotAGoMap_BodyMapErrorText(TestApi api, string body, string goText)
    {
        var (status, message, result) = Parse(api, body);
        Assert.Equal(ParseStatus.InvalidJson, status);
        Assert.Equal(Prefix + goText, message);
        Assert.False(result.HasModel);
    }

    // Reference TestParseRequest wantErr cases plus the Go typed-decode rules they rely on.
    public static TheoryData<TestApi, string, string> ValidationErrors => new()
    {
        { TestApi.Completions, "null", Completions },
        { TestApi.ChatCompletions, "null", Chat },
        { TestApi.Completions, "{\"model\":\"test\"}", Completions },
        { TestApi.Completions, "{\"model\":\"test\",\"prompt\":123}", Completions },
        { TestApi.Completions, "{\"prompt\":\"\"}", Completions },
        { TestApi.Completions, "{\"prompt\":[]}", Completions },
        { TestApi.Completions, "{\"prompt\":null}", Completions },
        { TestApi.Completions, "{\"prompt\":{}}", Completions },
        { TestApi.Completions, "{\"prompt\":true}", Completions },
        { TestApi.Completions, "{\"prompt\":[\"a\",1]}", Completions },
        { TestApi.Completions, "{\"prompt\":[1,\"a\"]}", Completions },
        { TestApi.Completions, "{\"prompt\":[1.5]}", Completions },
        { TestApi.Completions, "{\"prompt\":[-1]}", Completions },
        { TestApi.Completions, "{\"prompt\":[4294967296]}", Completions },
        { TestApi.Completions, "{\"prompt\":[null]}", Completions },
        { TestApi.Completions, "{\"prompt\":[[1]]}", Completions },
        { TestApi.Completions, "{\"prompt\":\"ok\",\"cache_salt\":5}", Completions },
        { TestApi.Completions, "{\"prompt\":\"ok\",\"prompt\":{}}", Completions },
        { TestApi.ChatCompletions, "{\"model\":\"test\",\"messages\":\"invalid\"}", Chat },
        { TestApi.ChatCompletions, "{\"model\":\"test\",\"messages\":[]}", Chat },
        { TestApi.ChatCompletions, "{\"model\":\"test\"}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":null}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"role\":123,\"content\":\"hello\"}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"role\":\"user\",\"content\":123}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"role\":\"user\",\"content\":{}}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"role\":\"user\",\"content\":true}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[\"text\"]}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[{\"type\":1}]}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[{\"text\":[]}]}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[{\"image_url\":\"http://x\"}]}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[{\"image_url\":{\"url\":1}}]}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[{\"input_audio\":{\"format\":[]}}]}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[{\"video_url\":5}]}]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[\"hi\"]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"tools\":\"invalid\"}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"documents\":\"invalid\"}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"chat_template\":123}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"return_assistant_tokens_mask\":\"invalid\"}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"continue_final_message\":\"invalid\"}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"add_generation_prompt\":\"invalid\"}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"chat_template_kwargs\":\"invalid\"}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"cache_salt\":[]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"Messages\":[]}", Chat },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\"}],\"TOOLS\":{}}", Chat },
        { TestApi.Responses, "{\"model\":\"m\"}", Responses },
        { TestApi.Responses, "{\"input\":null}", Responses },
        { TestApi.Responses, "{\"input\":\"x\",\"input\":null}", Responses },
        { TestApi.Responses, "{\"input\":\"x\",\"cache_salt\":{}}", Responses },
        { TestApi.Conversations, "{\"items\":[]}", Conversations },
        { TestApi.Conversations, "{\"items\":null}", Conversations },
        { TestApi.Conversations, "{\"items\":{}}", Conversations },
        { TestApi.Conversations, "{\"items\":[1]}", Conversations },
        { TestApi.Conversations, "{\"items\":[{\"type\":5}]}", Conversations },
        { TestApi.Conversations, "{\"items\":[{\"role\":true}]}", Conversations },
        { TestApi.Conversations, "{\"items\":[{}],\"metadata\":\"x\"}", Conversations },
        { TestApi.Embeddings, "{\"model\":\"m\"}", Embeddings },
        { TestApi.Embeddings, "{\"input\":[]}", Embeddings },
        { TestApi.Embeddings, "{\"input\":\"\"}", Embeddings },
        { TestApi.Embeddings, "{\"input\":null}", Embeddings },
        { TestApi.Embeddings, "{\"input\":[true]}", Embeddings },
        { TestApi.Embeddings, "{\"input\":5}", Embeddings },
    };

    [Theory]
    [MemberData(nameof(ValidationErrors))]
    public void Parse_TypedDecodeFails_PerApiMessage(TestApi api, string body, string expected)
    {
        var (status, message, _) = Parse(api, body);
        Assert.Equal(ParseStatus.InvalidRequest, status);
        Assert.Equal(expected, message);
    }

    // Accepted by Go's typed decode: nulls where Go ignores them, folded keys, unknown fields of any type.
    public static TheoryData<TestApi, string> Accepted => new()
    {
        { TestApi.Completions, "{\"model\":\"m\",\"prompt\":\"hello\"}" },
        { TestApi.Completions, "{\"prompt\":[\"\"]}" },
        { TestApi.Completions, "{\"prompt\":[1,2,4294967295,0,-0,1.0,1e2]}" },
        { TestApi.Completions, "{\"PROMPT\":\"x\"}" },
        { TestApi.Completions, "{\"pro\\u006dpt\":\"x\"}" },
        { TestApi.Completions, "{\"prompt\":\"x\",\"cache_salt\":null,\"max_tokens\":\"x\",\"stream\":\"yes\"}" },
        { TestApi.Completions, "{\"prompt\":{},\"prompt\":\"x\"}".Replace("{},", "[1],", StringComparison.Ordinal) },
        { TestApi.ChatCompletions, "{\"messages\":[null]}" },
        { TestApi.ChatCompletions, "{\"messages\":[{}]}" },
        { TestApi.ChatCompletions, "{\"messages\":[{\"role\":null,\"content\":null}]}" },
        { TestApi.ChatCompletions, "{\"meſſages\":[{\"content\":\"x\"}]}" },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[null,{},{\"type\":null,\"text\":null,\"image_url\":null,\"input_audio\":null,\"video_url\":null}]}]}" },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\",\"detail\":5}}]}],\"tools\":null,\"documents\":[1],\"chat_template\":null,\"add_generation_prompt\":false,\"chat_template_kwargs\":{\"a\":[1]}}" },
        { TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"x\",\"name\":5,\"tool_calls\":[{}]}],\"temperature\":0.5,\"n\":[true]}" },
        { TestApi.Responses, "{\"input\":0}" },
        { TestApi.Responses, "{\"input\":false,\"instructions\":5,\"tools\":\"x\"}" },
        { TestApi.Responses, "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]}]}" },
        { TestApi.Conversations, "{\"items\":[null]}" },
        { TestApi.Conversations, "{\"items\":[{\"content\":5}],\"metadata\":null}" },
        { TestApi.Embeddings, "{\"input\":\"x\"}" },
        { TestApi.Embeddings, "{\"input\":[1,2,3]}" },
        { TestApi.Embeddings, "{\"input\":[\"a\",\"b\"]}" },
        { TestApi.Embeddings, "{\"INPUT\":\"x\",\"encoding_format\":\"float\"}" },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public void Parse_GoAccepts_Ok(TestApi api, string body)
    {
        var (status, message, _) = Parse(api, body);
        Assert.Null(message);
        Assert.Equal(ParseStatus.Ok, status);
    }

    [Fact]
    public void Parse_EmptyBody_UnexpectedEnd()
    {
        var (status, message, _) = Parse(TestApi.ChatCompletions, Array.Empty<byte>());
        Assert.Equal(ParseStatus.InvalidJson, status);
        Assert.Equal(Prefix + "unexpected end of JSON input", message);
    }

    [Fact]
    public void Parse_Model_LastExactKeyWinsAndRangeCoversQuotedToken()
    {
        string body = "{\"model\":\"a\", \"Model\":\"x\", \"model\" : \"m\\u00e9-\\\"q\\\"\" ,\"prompt\":\"p\"}";
        var (status, _, r) = Parse(TestApi.Completions, body);
        Assert.Equal(ParseStatus.Ok, status);
        Assert.True(r.HasModel);
        Assert.Equal("mé-\"q\"", r.Model);
        Assert.Equal("mé-\"q\"", Encoding.UTF8.GetString(r.ModelUtf8.Span));
        string token = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(body), (int)r.ModelValueOffset, r.ModelValueLength);
        Assert.Equal("\"m\\u00e9-\\\"q\\\"\"", token);
    }

    [Theory]
    [InlineData("{\"prompt\":\"p\"}")]
    [InlineData("{\"model\":5,\"prompt\":\"p\"}")]
    [InlineData("{\"model\":\"a\",\"model\":null,\"prompt\":\"p\"}")]
    [InlineData("{\"MODEL\":\"a\",\"prompt\":\"p\"}")]
    public void Parse_NoStringModel_OkWithoutModel(string body)
    {
        var (status, _, r) = Parse(TestApi.Completions, body);
        Assert.Equal(ParseStatus.Ok, status);
        Assert.False(r.HasModel);
        Assert.Equal(string.Empty, r.Model);
    }

    [Fact]
    public void Parse_ModelString_Interned()
    {
        var (_, _, a) = Parse(TestApi.Completions, "{\"model\":\"interned-model-x\",\"prompt\":\"p\"}");
        var (_, _, b) = Parse(TestApi.Completions, "{\"prompt\":\"q\",\"model\":\"interned-\\u006dodel-x\"}");
        Assert.Same(a.Model, b.Model);
    }

    [Theory]
    [InlineData("{\"prompt\":\"p\",\"stream\":true}", true)]
    [InlineData("{\"prompt\":\"p\",\"stream\":\"true\"}", false)]
    [InlineData("{\"prompt\":\"p\",\"stream\":1}", false)]
    [InlineData("{\"prompt\":\"p\",\"Stream\":true}", false)]
    [InlineData("{\"prompt\":\"p\",\"stream\":true,\"stream\":false}", false)]
    [InlineData("{\"prompt\":\"p\",\"stream\":false,\"stream\":true}", true)]
    public void Parse_Stream_ExactKeyJsonTrue(string body, bool expected)
    {
        var (_, _, r) = Parse(TestApi.Completions, body);
        Assert.Equal(expected, r.Stream);
    }

    [Fact]
    public void Parse_InformationalFields()
    {
        var (status, _, r) = Parse(TestApi.ChatCompletions,
            "{\"messages\":[{\"content\":\"x\"}],\"max_tokens\":10,\"max_completion_tokens\":77,\"stream_options\":{\"include_usage\":true},\"Cache_Salt\":\"s1\",\"cache_salt\":null}");
        Assert.Equal(ParseStatus.Ok, status);
        Assert.Equal(77, r.MaxTokens);
        Assert.True(r.HasStreamOptionsIncludeUsage);
        Assert.Equal("s1", r.CacheSalt);
        Assert.Equal("s1", Encoding.UTF8.GetString(r.CacheSaltUtf8.Span));

        var (_, _, r2) = Parse(TestApi.Responses, "{\"input\":\"x\",\"max_output_tokens\":5,\"stream_options\":{\"include_usage\":true},\"stream_options\":{}}");
        Assert.Equal(5, r2.MaxTokens);
        Assert.False(r2.HasStreamOptionsIncludeUsage);
        Assert.Null(r2.CacheSalt);
    }

    [Theory]
    [InlineData("{\"prompt\":\"p\",\"cache_salt\":\"\"}", null)]
    [InlineData("{\"prompt\":\"p\",\"cache_salt\":\"a\",\"cache_salt\":\"\"}", null)]
    [InlineData("{\"prompt\":\"p\",\"cache_salt\":\"a\",\"CACHE_SALT\":null}", "a")]
    [InlineData("{\"prompt\":\"p\",\"cache_salt\":\"\\u00e9\"}", "é")]
    public void Parse_CacheSalt_EmptyIsNone(string body, string? expected)
    {
        var (status, _, r) = Parse(TestApi.Completions, body);
        Assert.Equal(ParseStatus.Ok, status);
        Assert.Equal(expected, r.CacheSalt);
    }

    [Fact]
    public void Parse_Ranges_PointAtTopLevelValues()
    {
        string body = "{\"instructions\": \"be brief\", \"input\": [ {\"role\":\"user\"} ], \"tools\":[{\"type\":\"f\"}]}";
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        var (status, _, r) = Parse(TestApi.Responses, bytes);
        Assert.Equal(ParseStatus.Ok, status);
        Assert.Equal("\"be brief\"", Slice(bytes, r.Instructions));
        Assert.Equal("[ {\"role\":\"user\"} ]", Slice(bytes, r.Input));
        Assert.Equal("[{\"type\":\"f\"}]", Slice(bytes, r.Tools));
        Assert.Equal(JsonValueKind.Array, r.Input.Kind);
        Assert.Equal(JsonValueKind.String, r.Instructions.Kind);

        string chat = "{\"messages\":[{\"content\":\"a\"},{\"content\":\"b\"}] ,\"prompt\":1}";
        byte[] chatBytes = Encoding.UTF8.GetBytes(chat);
        var (_, _, c) = Parse(TestApi.ChatCompletions, chatBytes);
        Assert.Equal("[{\"content\":\"a\"},{\"content\":\"b\"}]", Slice(chatBytes, c.Messages));
        Assert.Equal(2, c.ElementCount);
        Assert.False(c.Prompt.IsPresent);
    }

    private static string Slice(byte[] bytes, ValueRange range) => Encoding.UTF8.GetString(bytes, (int)range.Start, (int)range.Length);

    // PromptText() lengths (types.go): chat = texts + one space per message; blocks = text + space each.
    [Theory]
    [InlineData(TestApi.Completions, "{\"prompt\":\"h\\u00e9llo\"}", 6)]
    [InlineData(TestApi.Completions, "{\"prompt\":[\"ab\",\"c\",\"\"]}", 5)]
    [InlineData(TestApi.Completions, "{\"prompt\":[1,2,3]}", 0)]
    [InlineData(TestApi.Completions, "{\"prompt\":[\"ab\"],\"prompt\":\"xyz\"}", 3)]
    [InlineData(TestApi.Completions, "{\"prompt\":\"xyz\",\"prompt\":[\"a\"]}", 3)]
    [InlineData(TestApi.Embeddings, "{\"input\":[\"ab\",\"cd\"]}", 5)]
    [InlineData(TestApi.ChatCompletions, "{\"messages\":[{\"content\":\"abc\"},{\"content\":\"\"},{\"content\":[{\"type\":\"text\",\"text\":\"de\"},{\"type\":\"image_url\",\"text\":\"zz\"},{\"text\":\"f\",\"type\":\"text\"}]}]}", 4 + 6)]
    [InlineData(TestApi.Responses, "{\"input\":\"abcd\"}", 4)]
    [InlineData(TestApi.Responses, "{\"input\":[1, 2]}", 6)]
    [InlineData(TestApi.Conversations, "{\"items\":[{}]}", 4)]
    public void Parse_PromptCharsEstimate(TestApi api, string body, long expected)
    {
        var (status, _, r) = Parse(api, body);
        Assert.Equal(ParseStatus.Ok, status);
        Assert.Equal(expected, r.PromptCharsEstimate);
    }

    [Fact]
    public void Parse_InvalidUtf8InStrings_AcceptedAsReplacement()
    {
        byte[] body = Encoding.UTF8.GetBytes("{\"model\":\"m_\",\"prompt\":\"a_b\"}");
        body[11] = 0xFF; // inside the model string
        body[25] = 0xC3; // truncated sequence inside the prompt
        var (status, _, r) = Parse(TestApi.Completions, body);
        Assert.Equal(ParseStatus.Ok, status);
        Assert.Equal("m\uFFFD", r.Model);
        Assert.Equal(5, r.PromptCharsEstimate);
    }

    [Fact]
    public void Parse_DeepNesting_GoLimit()
    {
        string inner = new string('[', 9999) + new string(']', 9999);
        var (okStatus, okMessage, _) = Parse(TestApi.Completions, "{\"prompt\":\"p\",\"x\":" + inner + "}");
        Assert.Null(okMessage);
        Assert.Equal(ParseStatus.Ok, okStatus);

        string tooDeep = new string('[', 10000) + new string(']', 10000);
        var (status, message, _) = Parse(TestApi.Completions, "{\"prompt\":\"p\",\"x\":" + tooDeep + "}");
        Assert.Equal(ParseStatus.InvalidJson, status);
        Assert.Equal(Prefix + "invalid character '[' exceeded max depth", message);
    }

    [Fact]
    public void Parse_ReusedResult_ResetBetweenRequests()
    {
        var result = new ParsedRequest();
        byte[] first = Encoding.UTF8.GetBytes("{\"model\":\"a\",\"prompt\":\"p\",\"stream\":true,\"cache_salt\":\"s\",\"max_tokens\":3}");
        byte[] second = Encoding.UTF8.GetBytes("{\"prompt\":\"q\"}");
        Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(new ReadOnlySequence<byte>(first), ApiKind.Completions, result, out _));
        Assert.Equal(ParseStatus.Ok, OpenAiRequestParser.Parse(new ReadOnlySequence<byte>(second), ApiKind.Completions, result, out _));
        Assert.False(result.HasModel);
        Assert.False(result.Stream);
        Assert.Null(result.CacheSalt);
        Assert.Null(result.MaxTokens);
        Assert.Equal(1, result.PromptCharsEstimate);
    }
}
