namespace FastEpp.Metrics;

/// <summary>
/// One model-server dialect of the <c>core-metrics-extractor</c> (scheduling.md §4.3): which
/// exposition series hold the queue length, running requests, KV-cache usage, LoRA info and cache
/// geometry. A plain options type the configuration loader fills from <c>engineConfigs</c> entries;
/// an empty or null spec disables that metric. <see cref="ScrapePlan.Create"/> validates and compiles it.
/// </summary>
internal sealed class EngineConfig
{
    public const string DefaultBlockSizeLabel = "block_size";
    public const string DefaultNumBlocksLabel = "num_gpu_blocks";

    public string Name { get; set; } = "";
    public string? QueuedRequestsSpec { get; set; }
    public string? RunningRequestsSpec { get; set; }
    public string? KvUsageSpec { get; set; }
    public string? LoraSpec { get; set; }
    public string? CacheInfoSpec { get; set; }
    /// <summary>Label of the cache-info series holding the block size (default <c>block_size</c>).</summary>
    public string? CacheBlockSizeLabelName { get; set; }
    /// <summary>Label of the cache-info series holding the number of blocks (default <c>num_gpu_blocks</c>).</summary>
    public string? CacheNumBlocksLabelName { get; set; }
    /// <summary>A gauge holding the block size directly (instead of an info label).</summary>
    public string? CacheBlockSizeSpec { get; set; }
    /// <summary>A gauge holding the number of blocks directly (instead of an info label).</summary>
    public string? CacheNumBlocksSpec { get; set; }

    public const string VllmName = "vllm";
    public const string SGLangName = "sglang";
    public const string TrtllmServeName = "trtllm-serve";
    public const string TritonTensorRtLlmName = "triton-tensorrt-llm";

    /// <summary>vLLM (V1 metric names; older servers expose <c>vllm:gpu_cache_usage_perc</c> and need an override).</summary>
    public static EngineConfig Vllm() => new()
    {
        Name = VllmName,
        QueuedRequestsSpec = "vllm:num_requests_waiting",
        RunningRequestsSpec = "vllm:num_requests_running",
        KvUsageSpec = "vllm:kv_cache_usage_perc",
        LoraSpec = "vllm:lora_requests_info",
        CacheInfoSpec = "vllm:cache_config_info",
        CacheBlockSizeLabelName = DefaultBlockSizeLabel,
        CacheNumBlocksLabelName = DefaultNumBlocksLabel,
    };

    public static EngineConfig SGLang() => new()
    {
        Name = SGLangName,
        QueuedRequestsSpec = "sglang:num_queue_reqs",
        RunningRequestsSpec = "sglang:num_running_reqs",
        KvUsageSpec = "sglang:token_usage",
        CacheInfoSpec = "sglang:cache_config_info",
        CacheBlockSizeLabelName = "page_size",
        CacheNumBlocksLabelName = "num_pages",
    };

    public static EngineConfig TrtllmServe() => new()
    {
        Name = TrtllmServeName,
        QueuedRequestsSpec = "trtllm_num_requests_waiting",
        RunningRequestsSpec = "trtllm_num_requests_running",
        KvUsageSpec = "trtllm_kv_cache_utilization",
        CacheBlockSizeSpec = "trtllm_kv_cache_tokens_per_block",
        CacheNumBlocksSpec = "trtllm_kv_cache_max_blocks",
    };

    public static EngineConfig TritonTensorRtLlm() => new()
    {
        Name = TritonTensorRtLlmName,
        QueuedRequestsSpec = "nv_trt_llm_request_metrics{request_type=waiting}",
        RunningRequestsSpec = "nv_trt_llm_request_metrics{request_type=scheduled}",
        KvUsageSpec = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=fraction}",
        CacheBlockSizeSpec = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=tokens_per}",
        CacheNumBlocksSpec = "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=max}",
    };

    /// <summary>The four built-in dialects, in the order the reference appends them.</summary>
    public static EngineConfig[] BuiltIns() => [Vllm(), SGLang(), TrtllmServe(), TritonTensorRtLlm()];
}
