using FastEpp.Body;
using FastEpp.Requests.Cel;

namespace FastEpp.Tests.Requests;

/// <summary>The CEL subset of request-attribute-reporter, with cel-go's results for the same expressions.</summary>
public sealed class CelExpressionTests
{
    private static readonly Usage WithCache = new() { PromptTokens = 100, CompletionTokens = 20, TotalTokens = 120, CachedTokens = 64, HasCachedTokens = true, Present = true };
    private static readonly Usage NoCache = new() { PromptTokens = 7, CompletionTokens = 3, TotalTokens = 10, Present = true };

    private static string Eval(string expression, Usage usage)
    {
        var v = CelExpression.Compile(expression).Evaluate(usage);
        return v.IsError ? "error: " + v.Text : v.TypeName + " " + v;
    }

    [Theory]
    [InlineData("usage.completion_tokens", "double 20")]
    [InlineData("usage.prompt_tokens + usage.completion_tokens * 2.0", "double 140")]
    [InlineData("int(usage.total_tokens) * 3 - 1", "int 359")]
    [InlineData("usage.prompt_token_details.cached_tokens", "double 64")]
    [InlineData("usage['total_tokens'] / 8.0", "double 15")]
    [InlineData("has(usage.completion_tokens)", "bool true")]
    [InlineData("has(usage.prompt_token_details)", "bool true")]
    [InlineData("has(usage.nope)", "bool false")]
    [InlineData("usage.completion_tokens > 10 ? 1 : 0", "int 1")]
    [InlineData("usage.completion_tokens == 20", "bool true")] // heterogeneous numeric equality
    [InlineData("usage.prompt_tokens >= 100u && usage.total_tokens < 1e3", "bool true")]
    [InlineData("!(usage.prompt_tokens > 1000) || false", "bool true")]
    [InlineData("double(usage.prompt_tokens - usage.prompt_token_details.cached_tokens) * 0.5 + 0.9", "double 18.9")]
    [InlineData("string(int(usage.total_tokens)) + 'tok'", "string 120tok")]
    [InlineData("size(\"héllo\")", "int 5")]
    [InlineData("-0x10 + 7 % 4", "int -13")]
    [InlineData("usage.completion_tokens * 2", "error: no such overload: _*_(double, int)")]
    [InlineData("usage.missing", "error: no such key: missing")]
    [InlineData("1 / 0", "error: division by zero")]
    [InlineData("9223372036854775807 + 1", "error: integer overflow")]
    [InlineData("-9223372036854775808", "int -9223372036854775808")]
    [InlineData("int(1e19)", "error: range error converting 1E+19 to int")]
    [InlineData("false && usage.missing > 1", "bool false")] // absorbs the error
    [InlineData("usage.missing > 1 || true", "bool true")]
    [InlineData("usage.missing > 1 && true", "error: no such key: missing")]
    [InlineData("1 ? 2 : 3", "error: no such overload: _?_:_(int)")]
    public void Evaluates(string expression, string expected) => Assert.Equal(expected, Eval(expression, WithCache));

    [Fact]
    public void PromptTokenDetails_IsAbsentWithoutCachedTokens()
    {
        Assert.Equal("bool false", Eval("has(usage.prompt_token_details)", NoCache));
        Assert.Equal("error: no such key: prompt_token_details", Eval("usage.prompt_token_details.cached_tokens", NoCache));
        Assert.Equal("double 10", Eval("has(usage.prompt_token_details) ? usage.prompt_token_details.cached_tokens : usage.total_tokens", NoCache));
    }

    [Theory]
    [InlineData("usage.", "ERROR: <input>:1:7: Syntax error: missing IDENTIFIER at '<EOF>'")]
    [InlineData("usage.a +", "ERROR: <input>:1:10: Syntax error: mismatched input '<EOF>' expecting an expression")]
    [InlineData("cost + 1", "ERROR: <input>:1:1: undeclared reference to 'cost' (in container '')")]
    [InlineData("usage.a\n  + max(1)", "ERROR: <input>:2:5: undeclared reference to 'max' (in container '')")]
    [InlineData("(usage.a", "ERROR: <input>:1:9: Syntax error: missing ')' at '<EOF>'")]
    [InlineData("usage.a # 2", "ERROR: <input>:1:9: Syntax error: extraneous input '#'")]
    [InlineData("has(1)", "ERROR: <input>:1:1: invalid argument to has() macro")]
    [InlineData("'open", "ERROR: <input>:1:1: Syntax error: token recognition error at: unterminated string")]
    public void CompileErrors_NameTheirPosition(string expression, string message) =>
        Assert.Equal(message, Assert.Throws<CelCompileException>(() => CelExpression.Compile(expression)).Message);
}
