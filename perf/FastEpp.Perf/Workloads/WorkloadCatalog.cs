namespace FastEpp.Perf.Workloads;

/// <summary>The benchmark workloads of anchors.md §1.4 with their exact reference parameters.</summary>
internal static class WorkloadCatalog
{
    /// <summary>The 12-stage ladder of the prefix-cache-aware and single-workload values files (rate QPS × seconds).</summary>
    private static readonly Stage[] s_ladder =
    [
        new(15, 50), new(10, 20), new(15, 20), new(20, 38), new(25, 30), new(30, 25),
        new(35, 21), new(40, 38), new(45, 36), new(50, 30), new(55, 27), new(60, 25),
    ];

    /// <summary>The multi-LoRA ladder.</summary>
    private static readonly Stage[] s_loraLadder =
    [
        new(15, 60), new(10, 30), new(15, 30), new(20, 48), new(25, 40), new(30, 35),
        new(35, 31), new(40, 48), new(45, 46), new(50, 40), new(55, 37), new(60, 35),
    ];

    public static readonly WorkloadSpec ManySystemPrompts = new()
    {
        Name = "many-system-prompts",
        Source = "GIE prefix-cache-aware/short-questions__many-system-prompts-values.yaml (= llm-d 'KV-Cache Wins' workload)",
        Groups = 150, PromptsPerGroup = 5, SystemTokens = 6000,
        Question = LengthDist.Fixed(1200), Output = LengthDist.Fixed(1000),
        Stages = s_ladder, MaxConcurrency = 1200,
    };

    public static readonly WorkloadSpec LongQuestions = ManySystemPrompts with
    {
        Name = "long-questions",
        Source = "GIE prefix-cache-aware/long-questions__many-system-prompts-values.yaml",
        SystemTokens = 1000, Question = LengthDist.Fixed(6200),
    };

    public static readonly WorkloadSpec MultiChatShort = new()
    {
        Name = "multi-chat-short",
        Source = "GIE prefix-cache-aware/short-questions__few-system-prompts__multi-chat-values.yaml",
        Groups = 6, PromptsPerGroup = 1000, SystemTokens = 1000,
        Question = LengthDist.Normal(30, 9, 1, 10_000), Output = LengthDist.Normal(1000, 300, 1, 10_000),
        MultiTurn = true, MaxConcurrency = 3000,
        Stages = [new(1, 100), new(3, 100), new(5, 100), new(7, 100), new(9, 100), new(11, 100), new(13, 100), new(15, 100), new(17, 100)],
    };

    public static readonly WorkloadSpec MultiChatLong = MultiChatShort with
    {
        Name = "multi-chat-long",
        Source = "GIE prefix-cache-aware/long-questions__few-system-prompts__multi-chat-values.yaml",
        Question = LengthDist.Normal(3000, 900, 1, 10_000),
        Stages = [new(1, 100), new(2, 100), new(3, 100), new(4, 100), new(5, 100), new(6, 100), new(7, 100), new(8, 100), new(9, 100), new(10, 100)],
    };

    /// <summary>billsum_conversations is not available offline: synthetic lengths within its caps (in ≤ 2,048, out ≤ 128).</summary>
    public static readonly WorkloadSpec PrefillHeavy = new()
    {
        Name = "prefill-heavy",
        Source = "GIE single-workload/prefill-heavy-values.yaml (synthetic lengths: input U[256, 2048], output U[16, 128])",
        Question = LengthDist.Uniform(256, 2048), Output = LengthDist.Uniform(16, 128),
        Stages = s_ladder, MaxConcurrency = 1000, SimProfile = "h100-llama8b", Replicas = 10,
    };

    /// <summary>infinity_instruct is not available offline: synthetic lengths within its caps (in ≤ 1,024, out ≤ 2,048).</summary>
    public static readonly WorkloadSpec DecodeHeavy = PrefillHeavy with
    {
        Name = "decode-heavy",
        Source = "GIE single-workload/decode-heavy-values.yaml (synthetic lengths: input U[64, 1024], output U[256, 2048])",
        Question = LengthDist.Uniform(64, 1024), Output = LengthDist.Uniform(256, 2048),
    };

    public static readonly WorkloadSpec MultiLora = PrefillHeavy with
    {
        Name = "multi-lora",
        Source = "GIE multilora-workload/multilora-values.yaml (15 adapters 5x12% + 5x6% + 5x2%, max-loras 3; synthetic billsum lengths)",
        Stages = s_loraLadder,
        Adapters = ["adapter-0", "adapter-1", "adapter-2", "adapter-3", "adapter-4", "adapter-5", "adapter-6", "adapter-7",
            "adapter-8", "adapter-9", "adapter-10", "adapter-11", "adapter-12", "adapter-13", "adapter-14"],
        AdapterWeights = [0.12, 0.12, 0.12, 0.12, 0.12, 0.06, 0.06, 0.06, 0.06, 0.06, 0.02, 0.02, 0.02, 0.02, 0.02],
        SimArgs = ["--lora-modules", "adapter-0,adapter-1,adapter-2,adapter-3,adapter-4,adapter-5,adapter-6,adapter-7,adapter-8,adapter-9,adapter-10,adapter-11,adapter-12,adapter-13,adapter-14",
            "--max-loras", "3"],
    };

    /// <summary>The EPP-scale (resource-tuning) workload: tiny requests, 1 → 5,000 QPS in 500-QPS steps of 100 s.</summary>
    public static readonly WorkloadSpec EppScale = new()
    {
        Name = "epp-scale",
        Source = "GIE site-src/guides/epp-configuration/resource-tuning.md (shared_prefix 150x5, 60/12/10 tokens)",
        Groups = 150, PromptsPerGroup = 5, SystemTokens = 60,
        Question = LengthDist.Fixed(12), Output = LengthDist.Fixed(10),
        Stages = [new(1, 100), new(500, 100), new(1000, 100), new(1500, 100), new(2000, 100), new(2500, 100),
            new(3000, 100), new(3500, 100), new(4000, 100), new(4500, 100), new(5000, 100)],
        MaxConcurrency = 100, SimProfile = "h100-qwen3-32b-tp2", Replicas = 10,
    };

    public static readonly WorkloadSpec[] All =
        [ManySystemPrompts, LongQuestions, MultiChatShort, MultiChatLong, PrefillHeavy, DecodeHeavy, MultiLora, EppScale];

    public static WorkloadSpec? Find(string name)
    {
        foreach (WorkloadSpec w in All)
        {
            if (w.Name == name)
                return w;
        }
        return null;
    }
}
