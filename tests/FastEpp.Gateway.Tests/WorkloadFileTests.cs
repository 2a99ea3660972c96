using System.Text.Json;
using FastEpp.Perf.Load;
using FastEpp.Perf.Workloads;

namespace FastEpp.Gateway.Tests;

/// <summary>inference-perf config files mapped onto workloads: every field the suite honours, errors for what it cannot, notes for the rest.</summary>
public sealed class WorkloadFileTests
{
    private static WorkloadFile Parse(string yaml) => WorkloadFile.Parse(yaml, "w", "w.yaml");

    [Fact]
    public void SharedPrefix_MapsEveryField_IncludingDistributionsAndAliases()
    {
        WorkloadFile f = Parse("""
            load:
              type: constant
              interval: 2
              stages: [{rate: 3, duration: 40}, {rate: 6.5, duration: 20}]
              worker_max_concurrency: 77
            api: {type: completion, streaming: true}
            data:
              type: shared_prefix
              shared_prefix:
                num_unique_system_prompts: 12
                num_users_per_system_prompt: 4
                system_prompt_len: {min: 100, max: 900, mean: 500, std_dev: 50}
                question_len: 300
                output_len: {type: uniform, min: 10, max: 90}
                enable_multi_turn_chat: true
                seed: 42
            fleet:
              replicas: 3
              profile: h100-llama8b
              sim_args: "--max-num-seqs 64 --time-scale 0.5"
            """);
        WorkloadSpec s = f.Spec;
        Assert.Empty(f.Notes);
        Assert.Equal(ArrivalKind.Constant, s.Arrivals);
        Assert.Equal(2, s.StageGap);
        Assert.Equal([new Stage(3, 40), new Stage(6.5, 20)], s.Stages);
        Assert.Equal(77, s.MaxConcurrency);
        Assert.False(s.Chat);
        Assert.Equal(12, s.Groups);
        Assert.Equal(4, s.PromptsPerGroup);
        Assert.Equal(LengthDist.Normal(500, 50, 100, 900), s.SystemPrompt);
        Assert.Equal(LengthDist.Fixed(300), s.Question);
        Assert.Equal(LengthDist.Uniform(10, 90), s.Output);
        Assert.True(s.MultiTurn);
        Assert.Equal(42, s.DataSeed);
        Assert.Equal(3, s.Replicas);
        Assert.Equal("h100-llama8b", s.SimProfile);
        Assert.Equal(["--max-num-seqs", "64", "--time-scale", "0.5"], s.SimArgs);
    }

    [Fact]
    public void Random_MapsDistributions_AndInferencePerfDefaults()
    {
        WorkloadFile f = Parse("""
            load:
              stages: [{rate: 1, duration: 10}]
            api: {type: chat, streaming: true}
            data:
              type: random
              input_distribution: {min: 5, max: 2000, mean: 700, variance: 10000}
              output_distribution: {type: fixed, mean: 64, min: 1, max: 100}
            """);
        WorkloadSpec s = f.Spec;
        Assert.Equal(ArrivalKind.Constant, s.Arrivals);   // inference-perf's default load type
        Assert.Equal(1.0, s.StageGap);                    // and its default interval
        Assert.Equal(100, s.MaxConcurrency);              // and worker_max_concurrency
        Assert.Equal(0, s.Groups);
        Assert.Equal(LengthDist.Normal(700, 100, 5, 2000), s.Question);
        Assert.Equal(LengthDist.Fixed(64), s.Output);
    }

    [Fact]
    public void UnknownAndInapplicableKeys_AreReportedWithTheirLines_NeverDropped()
    {
        WorkloadFile f = Parse("""
            server: {type: vllm, model_name: Qwen/Qwen3-32B, base_url: http://x:8000}
            load:
              type: poisson
              stages: [{rate: 1, duration: 10}]
              num_workers: 4
              wokrer_max_concurrency: 5
            api: {type: chat, streaming: true, colour: blue}
            data:
              type: shared_prefix
              shared_prefix: {num_groups: 2, num_prompts_per_group: 2, system_prompt_len: 10, question_len: 10, output_len: 10, extra: 1}
            fleet: {replicas: 2, zones: 3}
            mystery: true
            """);
        string all = string.Join("\n", f.Notes);
        Assert.Contains("server (line 1): ignored", all);
        Assert.Contains("load.num_workers (line 5): ignored", all);
        Assert.Contains("unknown key load.wokrer_max_concurrency (line 6)", all);
        Assert.Contains("unknown key api.colour (line 7)", all);
        Assert.Contains("unknown key data.shared_prefix.extra (line 10)", all);
        Assert.Contains("unknown key fleet.zones (line 11)", all);
        Assert.Contains("unknown key mystery (line 12)", all);
        Assert.Equal(7, f.Notes.Count);
        Assert.Equal(100, f.Spec.MaxConcurrency); // the misspelt key changed nothing
    }

    [Theory]
    [InlineData("load: {type: concurrent, stages: [{rate: 1, duration: 1}]}", "load.type 'concurrent' is not supported")]
    [InlineData("load: {stages: [{rate: 1, duration: 1}]}\napi: {streaming: false}", "api.streaming: false is not supported")]
    [InlineData("load: {stages: [{rate: 1, duration: 1}]}\ndata: {type: shareGPT}", "data.type 'shareGPT' is not supported")]
    [InlineData("load: {stages: [{rate: 0, duration: 1}]}", "load.stages[].rate must be > 0")]
    [InlineData("load: {stages: [{rate: 1}]}", "every load stage needs rate and duration")]
    [InlineData("api: {type: chat}", "load.stages is required")]
    [InlineData("load: {stages: [{rate: 1, duration: 1}]}\ndata: {type: random, input_distribution: {type: lognormal}, output_distribution: 5}", "type 'lognormal' is not supported")]
    [InlineData("load: [1, 2", "w.yaml")]
    public void WhatTheSuiteCannotHonour_IsAnError(string yaml, string message)
    {
        FormatException ex = Assert.Throws<FormatException>(() => Parse(yaml));
        Assert.Contains(message, ex.Message);
    }

    [Fact]
    public void BuiltInCatalogue_IsFiles_WithTheReferenceParameters_AndNoNotes()
    {
        string[] names = WorkloadCatalog.Names();
        Assert.Contains("many-system-prompts", names);
        Assert.Contains("spread-lengths", names);
        foreach (string name in names)
            Assert.Empty(WorkloadCatalog.Find(name)!.Notes);

        WorkloadSpec m = WorkloadCatalog.Find("many-system-prompts")!.Spec;
        Assert.Equal((150, 5, 1200, 8), (m.Groups, m.PromptsPerGroup, m.MaxConcurrency, m.Replicas));
        Assert.Equal(LengthDist.Fixed(6000), m.SystemPrompt);
        Assert.Equal(new Stage(15, 50), m.Stages[0]);
        Assert.Equal(ArrivalKind.Poisson, m.Arrivals);
        Assert.Equal(0, m.StageGap);

        WorkloadSpec lora = WorkloadCatalog.Find("multi-lora")!.Spec;
        Assert.Equal(15, lora.Adapters.Length);
        Assert.Equal(0.12, lora.AdapterWeights[0]);
        Assert.Contains("--max-loras", lora.SimArgs);
    }

    [Fact]
    public void ConstantArrivals_SendExactlyRateTimesDuration_WithinTheStage()
    {
        double[] t = LoadRunner.ArrivalTimes(new Stage(7, 10), ArrivalKind.Constant, new Random(1));
        Assert.Equal(70, t.Length);
        Assert.Equal(0, t[0]);
        for (int i = 1; i < t.Length; i++)
            Assert.True(t[i] > t[i - 1] && t[i] < 10);
    }

    [Fact]
    public void CompletionApi_WritesOnePrompt_WithTheSameTokens()
    {
        WorkloadSpec spec = Parse("""
            load: {stages: [{rate: 1, duration: 1}]}
            api: {type: completion, streaming: true}
            data: {type: shared_prefix, shared_prefix: {num_groups: 1, num_prompts_per_group: 1, system_prompt_len: 40, question_len: 8, output_len: 3}}
            """).Spec;
        PlannedRequest r = new PromptFactory(spec, "m", 1, 16_000).Next();
        using JsonDocument doc = JsonDocument.Parse(r.Body);
        Assert.Equal(48 * 4, doc.RootElement.GetProperty("prompt").GetString()!.Length);
        Assert.Equal(48, r.InputTokens);
        Assert.False(doc.RootElement.TryGetProperty("messages", out _));
    }
}
