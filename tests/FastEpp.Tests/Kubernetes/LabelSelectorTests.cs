using FastEpp.Kubernetes;

namespace FastEpp.Tests.Kubernetes;

public sealed class LabelSelectorTests
{
    [Fact]
    public void TryParse_EqualityList_TrimsAndValidates()
    {
        Assert.True(LabelSelector.TryParse("app=vllm, example.com/tier = gpu,empty=", out var labels, out _));
        Assert.Equal(3, labels.Count);
        Assert.Equal("vllm", labels["app"]);
        Assert.Equal("gpu", labels["example.com/tier"]);
        Assert.Equal("", labels["empty"]);
        Assert.Equal("app=vllm,empty=,example.com/tier=gpu", LabelSelector.Format(labels));
    }

    [Theory]
    [InlineData("app")]
    [InlineData("a=b=c")]
    [InlineData("app==vllm")]
    [InlineData("app!=vllm")]
    [InlineData("=v")]
    [InlineData("-bad=v")]
    [InlineData("Bad_Prefix/x=v")]
    [InlineData("k=-v")]
    [InlineData("a=b,")]
    public void TryParse_Invalid_ReturnsError(string text)
    {
        Assert.False(LabelSelector.TryParse(text, out _, out string error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void Matches_RequiresEveryEntry()
    {
        var selector = new Dictionary<string, string> { ["app"] = "vllm", ["tier"] = "gpu" };
        Assert.True(LabelSelector.Matches(selector, new Dictionary<string, string> { ["app"] = "vllm", ["tier"] = "gpu", ["x"] = "y" }));
        Assert.False(LabelSelector.Matches(selector, new Dictionary<string, string> { ["app"] = "vllm" }));
        Assert.False(LabelSelector.Matches(selector, null));
    }
}
