using System.Buffers;
using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.Body;

namespace FastEpp.Tests.Body;

/// <summary>Usage parsing (spec extproc.md §4.6); cases ported from openai_test.go TestParseResponse / TestParseStreamResponse.</summary>
public class UsageParserTests
{
    private static (bool Found, Usage Usage) Json(string body)
    {
        var usage = default(Usage);
        bool found = UsageParser.ParseJson(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), ref usage);
        return (found, usage);
    }

    private static (bool Found, Usage Usage) Sse(string chunk)
    {
        var usage = default(Usage);
        bool found = UsageParser.ParseSseChunk(Encoding.UTF8.GetBytes(chunk), ref usage);
        return (found, usage);
    }

    [Theory]
    [InlineData("{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"total_tokens\":30}}", 10, 20, 30, 0)]
    [InlineData("{\"object\":\"conversation\",\"usage\":{\"input_tokens\":15,\"output_tokens\":25,\"total_tokens\":40}}", 15, 25, 40, 0)]
    [InlineData("{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":50,\"total_tokens\":150,\"prompt_token_details\":{\"cached_tokens\":40}}}", 100, 50, 150, 40)]
    [InlineData("{\"object\":\"unknown_type\",\"usage\":{\"input_tokens\":5,\"completion_tokens\":5,\"total_tokens\":10}}", 5, 5, 10, 0)]
    [InlineData("{\"object\":\"response\",\"usage\":{\"prompt_tokens\":7,\"input_tokens\":3,\"output_tokens\":4}}", 3, 4, 0, 0)]
    [InlineData("{\"object\":\"text_completion\",\"usage\":{\"input_tokens\":3,\"prompt_tokens\":7.9}}", 7, 0, 0, 0)]
    [InlineData("{\"usage\":{\"prompt_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":9}}}", 1, 0, 0, 0)]
    [InlineData("{\"usage\":{}}", 0, 0, 0, 0)]
    [InlineData("{\"usage\":{\"prompt_tokens\":1},\"usage\":{\"total_tokens\":2}}", 0, 0, 2, 0)]
    public void ParseJson_ReferenceCases(string body, int prompt, int completion, int total, int cached)
    {
        var (found, u) = Json(body);
        Assert.True(found);
        Assert.True(u.Present);
        Assert.Equal(prompt, u.PromptTokens);
        Assert.Equal(completion, u.CompletionTokens);
        Assert.Equal(total, u.TotalTokens);
        Assert.Equal(cached, u.CachedTokens);
    }

    [Theory]
    [InlineData("{\"object\":\"chat.completion\"}")]
    [InlineData("{malformed")]
    [InlineData("")]
    [InlineData("[1]")]
    [InlineData("{\"usage\":null}")]
    [InlineData("{\"usage\":5}")]
    [InlineData("{\"usage\":\"x\"}")]
    [InlineData("{\"usage\":[1,2]}")]
    [InlineData("{\"usage\":{\"prompt_tokens\":1},\"x\":1e999}")]
    [InlineData("{\"Usage\":{\"prompt_tokens\":1}}")]
    public void ParseJson_NoUsage(string body)
    {
        var usage = new Usage { PromptTokens = 99, Present = true };
        Assert.False(UsageParser.ParseJson(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body)), ref usage));
        Assert.Equal(99, usage.PromptTokens);
    }

    [Fact]
    public void ParseJson_MultiSegment_SameResult()
    {
        byte[] body = Encoding.UTF8.GetBytes("{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"text\":\"" + new string('a', 5000) + "\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":22,\"total_tokens\":33,\"prompt_token_details\":{\"cached_tokens\":4}}}");
        var usage = default(Usage);
        Assert.True(UsageParser.ParseJson(SequenceFactory.Chunked(body, 7), ref usage));
        Assert.Equal((11, 22, 33, 4), (usage.PromptTokens, usage.CompletionTokens, usage.TotalTokens, usage.CachedTokens));
    }

    [Theory]
    [InlineData("data: {\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":10,\"total_tokens\":17}}\n", 7, 10, 17, 0)]
    [InlineData("data: {\"usage\":{\"prompt_tokens\":10,\"prompt_token_details\":{\"cached_tokens\":10}}}\ndata: [DONE]", 10, 0, 0, 10)]
    [InlineData("event: response.completed\ndata: {\"response\":{\"id\":\"resp_8e38bd02b4f56572\",\"model\":\"Qwen/Qwen3-32B\",\"object\":\"response\",\"usage\":{\"input_tokens\":31,\"input_tokens_details\":{\"cached_tokens\":16},\"output_tokens\":3,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":34}},\"type\":\"response.completed\"}", 31, 3, 34, 0)]
    [InlineData("event: response.output_text.delta\ndata: {\"delta\":\"Hello\",\"type\":\"response.output_text.delta\"}\n\nevent: response.completed\ndata: {\"response\":{\"usage\":{\"input_tokens\":39,\"output_tokens\":10,\"total_tokens\":49}},\"type\":\"response.completed\"}", 39, 10, 49, 0)]
    [InlineData("data: {\"id\":\"1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":9,\"completion_tokens\":4}}\r\n\r\ndata: [DONE]\r\n\r\n", 5, 4, 9, 0)]
    [InlineData("data: {bad}\ndata: {\"USAGE\":{\"Total_Tokens\":5}}", 0, 0, 5, 0)]
    [InlineData("data: {\"usage\":{\"prompt_tokens\":1.5}}\ndata: {\"usage\":{\"prompt_tokens\":2}}", 2, 0, 0, 0)]
    [InlineData("data: {\"response\":{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":3,\"input_tokens\":8}},\"type\":\"response.completed\"}", 3, 0, 0, 0)]
    [InlineData("data: {\"usage\":{}}", 0, 0, 0, 0)]
    public void ParseSseChunk_ReferenceCases(string chunk, int prompt, int completion, int total, int cached)
    {
        var (found, u) = Sse(chunk);
        Assert.True(found);
        Assert.True(u.Present);
        Assert.Equal((prompt, completion, total, cached), (u.PromptTokens, u.CompletionTokens, u.TotalTokens, u.CachedTokens));
    }

    [Theory]
    [InlineData("data: {\"choices\":[{\"text\":\"hello\"}]}")]
    [InlineData("data: [DONE]")]
    [InlineData("data: {bad-json}\\ndata: {\\\"usage\\\":{\\\"total_tokens\\\":5}}")]
    [InlineData("event: response.in_progress\ndata: {\"response\":{\"usage\":{\"input_tokens\":31,\"output_tokens\":3}},\"type\":\"response.in_progress\"}")]
    [InlineData("data:{\"usage\":{\"total_tokens\":5}}")]
    [InlineData(" data: {\"usage\":{\"total_tokens\":5}}")]
    [InlineData("data: {\"usage\":null}")]
    [InlineData("data: {\"usage\":5}")]
    [InlineData("data: {\"usage\":{\"total_tokens\":5}")]
    [InlineData("data: {\"usage\":{\"total_tokens\":5}} x")]
    [InlineData("data: {\"usage\":{\"total_tokens\":\"5\"}}")]
    [InlineData("data: {\"usage\":{\"total_tokens\":1e2}}")]
    [InlineData("data: 5")]
    [InlineData("data: null")]
    [InlineData("data: {\"response\":{\"usage\":[]},\"type\":\"response.completed\"}")]
    [InlineData("")]
    [InlineData("\n\n\n")]
    public void ParseSseChunk_NoUsage(string chunk)
    {
        var usage = new Usage { TotalTokens = 42, Present = true };
        Assert.False(UsageParser.ParseSseChunk(Encoding.UTF8.GetBytes(chunk), ref usage));
        Assert.Equal(42, usage.TotalTokens);
        Assert.True(usage.Present);
    }

    [Fact]
    public void ParseSseChunk_LineSplitAcrossChunks_NotReassembled()
    {
        string full = "data: {\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":10,\"total_tokens\":17}}\n\n";
        var usage = default(Usage);
        Assert.False(UsageParser.ParseSseChunk(Encoding.UTF8.GetBytes(full[..30]), ref usage));
        Assert.False(UsageParser.ParseSseChunk(Encoding.UTF8.GetBytes(full[30..]), ref usage));
        Assert.False(usage.Present);
    }

    [Theory]
    [InlineData("text/event-stream", false, true)]
    [InlineData("text/event-stream; charset=utf-8", false, true)]
    [InlineData("Text/Event-Stream", false, false)]
    [InlineData("Text/Event-Stream", true, true)]
    [InlineData("application/json", true, false)]
    public void IsEventStream_Detection(string value, bool ignoreCase, bool expected)
    {
        Assert.Equal(expected, UsageParser.IsEventStream(Encoding.ASCII.GetBytes(value), ignoreCase));
    }
}

/// <summary>Response model rewrite (spec extproc.md §2.9; reference handlers/server.go rewriteModelName).</summary>
public class ResponseModelRewriterTests
{
    private static string? Rewrite(string chunk, string target, string incoming)
    {
        using var output = new ArrayPoolBufferWriter<byte>();
        return ResponseModelRewriter.RewriteModelInResponse(Encoding.UTF8.GetBytes(chunk), target, incoming, output)
            ? Encoding.UTF8.GetString(output.WrittenSpan)
            : null;
    }

    [Theory]
    [InlineData("{\"model\":\"llama-prod\",\"x\":1}", "llama-prod", "food-review", "{\"model\":\"food-review\",\"x\":1}")]
    [InlineData("data: {\"model\":\"t\"}\n\ndata: {\"model\":\"t\"}\n\n", "t", "incoming", "data: {\"model\":\"incoming\"}\n\ndata: {\"model\":\"incoming\"}\n\n")]
    [InlineData("{\"model\": \"t\"}", "t", "i", "{\"model\": \"i\"}")]
    [InlineData("{\"model\":\"t\",\"b\":{\"model\": \"t\"}}", "t", "i", "{\"model\":\"i\",\"b\":{\"model\": \"t\"}}")]
    [InlineData("{\"model\":\"tt\"}", "t", "i", null)]
    [InlineData("{\"model\":\"t\"}", "t", "t", null)]
    [InlineData("{\"model\":\"t\"}", "", "i", null)]
    [InlineData("{\"model\":\"t\"}", "t", "", null)]
    [InlineData("{\"model\" : \"t\"}", "t", "i", null)]
    [InlineData("", "t", "i", null)]
    public void RewriteModelInResponse_ByteReplacement(string chunk, string target, string incoming, string? expected)
    {
        Assert.Equal(expected, Rewrite(chunk, target, incoming));
    }

    [Fact]
    public void RewriteModelInResponse_LongNames()
    {
        string target = new string('t', 2000);
        string incoming = new string('é', 1500);
        Assert.Equal("{\"model\":\"" + incoming + "\"}", Rewrite("{\"model\":\"" + target + "\"}", target, incoming));
    }
}
