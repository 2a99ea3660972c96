using FastEpp.Metrics;

namespace FastEpp.Tests.Metrics;

public class MetricSpecTests
{
    [Fact]
    public void TryParse_PlainName_NoLabels()
    {
        Assert.True(MetricSpec.TryParse("vllm:num_requests_waiting", out var spec, out var error));
        Assert.Null(error);
        Assert.Equal("vllm:num_requests_waiting", spec!.Name);
        Assert.Empty(spec.Labels);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    public void TryParse_EmptyText_MeansDisabled(string? text)
    {
        Assert.True(MetricSpec.TryParse(text, out var spec, out var error));
        Assert.Null(spec);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("nv_trt_llm_request_metrics{request_type=waiting}")]
    [InlineData("nv_trt_llm_request_metrics{request_type=\"waiting\"}")]
    [InlineData("nv_trt_llm_request_metrics{request_type='waiting'}")]
    [InlineData("  nv_trt_llm_request_metrics { request_type = \"waiting\" , }  ")]
    [InlineData("nv_trt_llm_request_metrics{request_type=`waiting`}")]
    public void TryParse_QuotedAndUnquotedValues_Accepted(string text)
    {
        Assert.True(MetricSpec.TryParse(text, out var spec, out var error), error);
        Assert.Equal("nv_trt_llm_request_metrics", spec!.Name);
        var label = Assert.Single(spec.Labels);
        Assert.Equal("request_type", label.Name);
        Assert.Equal("waiting", label.Value);
    }

    [Fact]
    public void TryParse_NonEqualityMatchersAndDunderLabels_Ignored()
    {
        Assert.True(MetricSpec.TryParse("foo{a!=\"x\",b=~\"y.*\",c!~z,__meta=\"m\",d=\"w\"}", out var spec, out var error), error);
        var label = Assert.Single(spec!.Labels);
        Assert.Equal(("d", "w"), (label.Name, label.Value));
    }

    [Fact]
    public void TryParse_EscapedQuotedValue_Unescaped()
    {
        Assert.True(MetricSpec.TryParse("foo{path=\"C:\\\\dir\",q=\"say \\\"hi\\\"\"}", out var spec, out var error), error);
        Assert.Equal("C:\\dir", spec!.Labels[0].Value);
        Assert.Equal("say \"hi\"", spec.Labels[1].Value);
    }

    [Fact]
    public void TryParse_RepeatedLabel_LastWins()
    {
        Assert.True(MetricSpec.TryParse("foo{a=1,a=2}", out var spec, out _));
        Assert.Equal("2", Assert.Single(spec!.Labels).Value);
    }

    [Fact]
    public void TryParse_EmptyBraces_NoLabels()
    {
        Assert.True(MetricSpec.TryParse("foo{}", out var spec, out _));
        Assert.Empty(spec!.Labels);
    }

    [Theory]
    [InlineData("{a=\"b\"}", "empty metric name")]
    [InlineData("{__name__=\"foo\"}", "empty metric name")]
    [InlineData("foo{a=\"b\"", "missing '}'")]
    [InlineData("foo{a=}", "missing value for label \"a\"")]
    [InlineData("foo{a=\"b\"}x", "after '}'")]
    [InlineData("foo{a=\"b\"}[5m]", "after '}'")]
    [InlineData("1foo", "cannot start with '1'")]
    [InlineData("foo bar", "unexpected 'b'")]
    [InlineData("foo{a \"b\"}", "expected '=', '!=', '=~' or '!~'")]
    [InlineData("foo{a=\"b\\q\"}", "unsupported escape")]
    [InlineData("foo{a=\"b}", "unterminated quoted value")]
    [InlineData("foo{a=b c=d}", "expected ',' or '}'")]
    [InlineData("foo{1a=b}", "expected a label name")]
    public void TryParse_BadSyntax_ClearError(string text, string expected)
    {
        Assert.False(MetricSpec.TryParse(text, out var spec, out var error));
        Assert.Null(spec);
        Assert.Contains(expected, error);
        Assert.Contains(text, error);
        Assert.Throws<FormatException>(() => MetricSpec.Parse(text));
    }

    [Fact]
    public void ToString_RoundTrips()
    {
        var spec = MetricSpec.Parse("foo{a=x,b=\"q\\\"r\"}")!;
        var again = MetricSpec.Parse(spec.ToString())!;
        Assert.Equal("foo", again.Name);
        Assert.Equal("q\"r", again.Labels[1].Value);
    }
}
