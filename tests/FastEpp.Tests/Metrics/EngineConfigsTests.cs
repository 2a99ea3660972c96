using FastEpp.Metrics;

namespace FastEpp.Tests.Metrics;

public class EngineConfigsTests
{
    private static Dictionary<string, string> Labels(string? engine) =>
        engine is null ? [] : new() { [EngineConfigs.DefaultEngineLabelKey] = engine };

    [Fact]
    public void TryBuild_Defaults_FourBuiltInsAndVllmDefault()
    {
        Assert.True(new EngineConfigs().TryBuild(out var selector, out var errors), string.Join("; ", errors));
        Assert.Equal(["sglang", "triton-tensorrt-llm", "trtllm-serve", "vllm"], selector!.Plans.Keys.Order().ToArray());
        Assert.Equal("vllm", selector.Default.Name);
        Assert.Equal(EngineConfigs.DefaultEngineLabelKey, selector.EngineLabelKey);
    }

    [Theory]
    [InlineData(null, "vllm")]
    [InlineData("", "vllm")]
    [InlineData("unknown-engine", "vllm")]
    [InlineData("sglang", "sglang")]
    [InlineData("trtllm-serve", "trtllm-serve")]
    [InlineData("triton-tensorrt-llm", "triton-tensorrt-llm")]
    public void Select_ByPodLabel_FallsBackToDefault(string? label, string expected)
    {
        var selector = EngineConfigs.CreateDefaultSelector();
        Assert.Equal(expected, selector.Select(Labels(label)).Name);
    }

    [Fact]
    public void TryBuild_UserEntry_FullyReplacesBuiltIn()
    {
        var cfg = new EngineConfigs { Engines = [new EngineConfig { Name = "vllm", KvUsageSpec = "vllm:gpu_cache_usage_perc" }] };
        Assert.True(cfg.TryBuild(out var selector, out _));
        var plan = selector!.Select(Labels("vllm"));
        Assert.Equal("vllm:gpu_cache_usage_perc", plan.Specs[MetricTarget.KvUsage]!.Name);
        Assert.Null(plan.Specs[MetricTarget.Queued]); // no field merge with the built-in
        Assert.Equal(MetricFields.KvUsage, plan.Enabled);
    }

    [Fact]
    public void TryBuild_CustomDefaultEngineAndLabelKey_Used()
    {
        var cfg = new EngineConfigs
        {
            EngineLabelKey = "example.com/engine",
            DefaultEngine = "custom",
            Engines = [new EngineConfig { Name = "custom", QueuedRequestsSpec = "q" }],
        };
        Assert.True(cfg.TryBuild(out var selector, out _));
        Assert.Equal("custom", selector!.Select(Labels("sglang")).Name); // the default key is not looked at
        Assert.Equal("sglang", selector.Select(new Dictionary<string, string> { ["example.com/engine"] = "sglang" }).Name);
    }

    [Fact]
    public void TryBuild_InvalidEntries_AllErrorsCollected()
    {
        var cfg = new EngineConfigs
        {
            DefaultEngine = "missing",
            Engines =
            [
                new EngineConfig { Name = "" },
                new EngineConfig { Name = "default" },
                new EngineConfig { Name = "a", QueuedRequestsSpec = "{x=1}" },
                new EngineConfig { Name = "b" },
                new EngineConfig { Name = "b" },
            ],
        };
        Assert.False(cfg.TryBuild(out var selector, out var errors));
        Assert.Null(selector);
        Assert.Contains(errors, e => e.Contains("engineConfigs[0]: name must not be empty"));
        Assert.Contains(errors, e => e.Contains("\"default\" is reserved"));
        Assert.Contains(errors, e => e.Contains("engineConfigs[2] (a): queuedRequestsSpec: empty metric name"));
        Assert.Contains(errors, e => e.Contains("duplicate engine name \"b\""));
        Assert.Contains(errors, e => e.Contains("defaultEngine \"missing\" does not name an engine config"));
    }

    [Fact]
    public void BuiltIns_TritonSpecsShareFamilies()
    {
        var plan = ScrapePlan.Create(EngineConfig.TritonTensorRtLlm());
        Assert.Equal(2, plan.Families.Length);
        Assert.Equal("waiting", plan.Specs[MetricTarget.Queued]!.Labels[0].Value);
    }
}
