using FastEpp.Sim.Engine;
using FastEpp.Sim.Options;

namespace FastEpp.Sim.Http;

/// <summary>
/// Renders one engine's state as Prometheus text exposition (format 0.0.4) in the chosen dialect. The names the
/// EPP scrapes are exactly those of ../../shared/spec/scheduling.md §4.3 (vllm / sglang / trtllm-serve), LoRA as
/// §5.1 (vllm:lora_requests_info, value = Unix time of the sample). Counter TYPE lines carry the _total name, as
/// prometheus_client (vLLM's exporter) writes them. Called under the replica lock.
/// </summary>
internal sealed class MetricsWriter
{
    private readonly Names _names;
    private readonly string _model;
    private readonly IReadOnlyList<string> _adapters;
    private readonly bool _lora;
    private readonly byte[] _labels;   // {engine="0",model_name="..."} or {model_name="..."}
    private readonly HashSet<int> _running = new();
    private readonly HashSet<int> _waiting = new();

    /// <summary>Creates a writer for a dialect, base model and adapter list.</summary>
    public MetricsWriter(MetricsDialect dialect, string model, IReadOnlyList<string> adapters)
    {
        _names = dialect switch
        {
            MetricsDialect.Sglang => s_sglang,
            MetricsDialect.TrtllmServe => s_trtllm,
            _ => s_vllm,
        };
        _model = model;
        _adapters = adapters;
        _lora = adapters.Count > 0 && dialect == MetricsDialect.Vllm;
        using var w = new ByteWriter(256);
        w.Write(dialect == MetricsDialect.Vllm ? "{engine=\"0\",model_name=\""u8 : "{model_name=\""u8).WriteLabelValue(model).Write("\"}"u8);
        _labels = w.ToArray();
    }

    /// <summary>Writes the exposition of <paramref name="engine"/> at Unix time <paramref name="unixNow"/>.</summary>
    public void Write(ByteWriter w, EngineCore engine, double unixNow)
    {
        EngineStats s = engine.Stats;
        EngineProfile p = engine.Profile;
        Gauge(w, _names.Running, "Number of requests in model execution batches.", engine.RunningCount);
        Gauge(w, _names.Waiting, "Number of requests waiting to be processed.", engine.WaitingCount);
        Gauge(w, _names.KvUsage, "KV-cache usage. 1 means 100 percent usage.", engine.Kv.Usage);

        switch (_names.CacheInfoStyle)
        {
            case CacheInfo.Labels:
                Header(w, _names.CacheInfo!, "Information of the LLMEngine CacheConfig.", "gauge");
                w.Write(_names.CacheInfo!).Write("{"u8).Write(_names.BlockSizeLabel!).Write("=\""u8).Write(p.BlockSize)
                    .Write("\",enable_prefix_caching=\""u8).Write(p.EnablePrefixCaching ? "True"u8 : "False"u8)
                    .Write("\",model_name=\""u8).WriteLabelValue(_model).Write("\","u8)
                    .Write(_names.NumBlocksLabel!).Write("=\""u8).Write(p.NumGpuBlocks).Write("\"} 1\n"u8);
                break;
            case CacheInfo.Gauges:
                Gauge(w, _names.BlockSizeLabel!, "Tokens per KV cache block.", p.BlockSize);
                Gauge(w, _names.NumBlocksLabel!, "KV cache blocks.", p.NumGpuBlocks);
                break;
        }

        if (_lora)
        {
            _running.Clear();
            _waiting.Clear();
            engine.CollectAdapters(_running, _waiting);
            Header(w, "vllm:lora_requests_info"u8, "Running stats on lora requests.", "gauge");
            w.Write("vllm:lora_requests_info{max_lora=\""u8).Write(p.MaxLoras).Write("\",running_lora_adapters=\""u8);
            AdapterList(w, _running);
            w.Write("\",waiting_lora_adapters=\""u8);
            AdapterList(w, _waiting);
            w.Write("\"} "u8).Write(unixNow).Write("\n"u8);
        }

        Counter(w, _names.PromptTokens, "Number of prefill tokens processed.", s.PromptTokens);
        Counter(w, _names.GenerationTokens, "Number of generation tokens processed.", s.GenerationTokens);
        if (_names.PrefixQueries is not null)
        {
            Counter(w, _names.PrefixQueries, "Prefix cache queries, in terms of number of queried tokens.", s.PrefixQueries);
            Counter(w, _names.PrefixHits!, "Prefix cache hits, in terms of number of cached tokens.", s.PrefixHits);
        }
        if (_names.CacheHitRate is not null)
        {
            Gauge(w, _names.CacheHitRate, "The prefix cache hit rate.", s.PrefixQueries == 0 ? 0 : (double)s.PrefixHits / s.PrefixQueries);
        }
        if (_names.Preemptions is not null)
        {
            Counter(w, _names.Preemptions, "Cumulative number of preemption from the engine.", s.Preemptions);
        }
        Header(w, _names.Success, "Count of successfully processed requests.", "counter");
        SuccessLine(w, "length"u8, s.FinishedLength);
        SuccessLine(w, "stop"u8, s.FinishedStop);

        Hist(w, _names.Ttft, "Histogram of time to first token in seconds.", s.Ttft);
        Hist(w, _names.Itl, "Histogram of inter-token latency in seconds.", s.Itl);
        if (_names.Tpot is not null)
        {
            Hist(w, _names.Tpot, "Histogram of time per output token in seconds.", s.Itl);
        }
        Hist(w, _names.E2e, "Histogram of e2e request latency in seconds.", s.E2e);
        if (_names.QueueTime is not null)
        {
            Hist(w, _names.QueueTime, "Histogram of time spent in WAITING phase for request.", s.Queue);
        }
    }

    private void AdapterList(ByteWriter w, HashSet<int> set)
    {
        bool first = true;
        for (int i = 0; i < _adapters.Count; i++)
        {
            if (set.Contains(i))
            {
                if (!first)
                {
                    w.Write(","u8);
                }
                w.WriteLabelValue(_adapters[i]);
                first = false;
            }
        }
    }

    private static void Header(ByteWriter w, ReadOnlySpan<byte> name, string help, string type)
    {
        w.Write("# HELP "u8).Write(name).Write(" "u8).Write(help).Write("\n# TYPE "u8).Write(name).Write(" "u8).Write(type).Write("\n"u8);
    }

    private void Gauge(ByteWriter w, ReadOnlySpan<byte> name, string help, double value)
    {
        Header(w, name, help, "gauge");
        w.Write(name).Write(_labels).Write(" "u8).Write(value).Write("\n"u8);
    }

    private void Counter(ByteWriter w, ReadOnlySpan<byte> name, string help, long value)
    {
        Header(w, name, help, "counter");
        w.Write(name).Write(_labels).Write(" "u8).Write(value).Write("\n"u8);
    }

    private void SuccessLine(ByteWriter w, ReadOnlySpan<byte> reason, long value)
    {
        w.Write(_names.Success).Write(_labels.AsSpan(0, _labels.Length - 1)).Write(",finished_reason=\""u8).Write(reason)
            .Write("\"} "u8).Write(value).Write("\n"u8);
    }

    private void Hist(ByteWriter w, ReadOnlySpan<byte> name, string help, Histogram h)
    {
        Header(w, name, help, "histogram");
        ReadOnlySpan<byte> inner = _labels.AsSpan(1, _labels.Length - 2);   // labels without braces
        double[] bounds = h.Bounds;
        long cumulative = 0;
        for (int i = 0; i <= bounds.Length; i++)
        {
            cumulative = h.CumulativeCount(i);
            w.Write(name).Write("_bucket{"u8).Write(inner).Write(",le=\""u8);
            if (i < bounds.Length)
            {
                w.Write(bounds[i]);
            }
            else
            {
                w.Write("+Inf"u8);
            }
            w.Write("\"} "u8).Write(cumulative).Write("\n"u8);
        }
        w.Write(name).Write("_sum"u8).Write(_labels).Write(" "u8).Write(h.Sum).Write("\n"u8);
        w.Write(name).Write("_count"u8).Write(_labels).Write(" "u8).Write(cumulative).Write("\n"u8);
    }

    private enum CacheInfo
    {
        Labels,
        Gauges,
    }

    private sealed class Names
    {
        public required byte[] Running;
        public required byte[] Waiting;
        public required byte[] KvUsage;
        public required CacheInfo CacheInfoStyle;
        public byte[]? CacheInfo;
        public byte[]? BlockSizeLabel;
        public byte[]? NumBlocksLabel;
        public required byte[] PromptTokens;
        public required byte[] GenerationTokens;
        public byte[]? PrefixQueries;
        public byte[]? PrefixHits;
        public byte[]? CacheHitRate;
        public byte[]? Preemptions;
        public required byte[] Success;
        public required byte[] Ttft;
        public required byte[] Itl;
        public byte[]? Tpot;
        public required byte[] E2e;
        public byte[]? QueueTime;
    }

    private static readonly Names s_vllm = new()
    {
        Running = "vllm:num_requests_running"u8.ToArray(),
        Waiting = "vllm:num_requests_waiting"u8.ToArray(),
        KvUsage = "vllm:kv_cache_usage_perc"u8.ToArray(),
        CacheInfoStyle = CacheInfo.Labels,
        CacheInfo = "vllm:cache_config_info"u8.ToArray(),
        BlockSizeLabel = "block_size"u8.ToArray(),
        NumBlocksLabel = "num_gpu_blocks"u8.ToArray(),
        PromptTokens = "vllm:prompt_tokens_total"u8.ToArray(),
        GenerationTokens = "vllm:generation_tokens_total"u8.ToArray(),
        PrefixQueries = "vllm:prefix_cache_queries_total"u8.ToArray(),
        PrefixHits = "vllm:prefix_cache_hits_total"u8.ToArray(),
        Preemptions = "vllm:num_preemptions_total"u8.ToArray(),
        Success = "vllm:request_success_total"u8.ToArray(),
        Ttft = "vllm:time_to_first_token_seconds"u8.ToArray(),
        Itl = "vllm:inter_token_latency_seconds"u8.ToArray(),
        Tpot = "vllm:time_per_output_token_seconds"u8.ToArray(),
        E2e = "vllm:e2e_request_latency_seconds"u8.ToArray(),
        QueueTime = "vllm:request_queue_time_seconds"u8.ToArray(),
    };

    private static readonly Names s_sglang = new()
    {
        Running = "sglang:num_running_reqs"u8.ToArray(),
        Waiting = "sglang:num_queue_reqs"u8.ToArray(),
        KvUsage = "sglang:token_usage"u8.ToArray(),
        CacheInfoStyle = CacheInfo.Labels,
        CacheInfo = "sglang:cache_config_info"u8.ToArray(),
        BlockSizeLabel = "page_size"u8.ToArray(),
        NumBlocksLabel = "num_pages"u8.ToArray(),
        PromptTokens = "sglang:prompt_tokens_total"u8.ToArray(),
        GenerationTokens = "sglang:generation_tokens_total"u8.ToArray(),
        CacheHitRate = "sglang:cache_hit_rate"u8.ToArray(),
        Success = "sglang:num_requests_total"u8.ToArray(),
        Ttft = "sglang:time_to_first_token_seconds"u8.ToArray(),
        Itl = "sglang:inter_token_latency_seconds"u8.ToArray(),
        E2e = "sglang:e2e_request_latency_seconds"u8.ToArray(),
        QueueTime = "sglang:queue_time_seconds"u8.ToArray(),
    };

    private static readonly Names s_trtllm = new()
    {
        Running = "trtllm_num_requests_running"u8.ToArray(),
        Waiting = "trtllm_num_requests_waiting"u8.ToArray(),
        KvUsage = "trtllm_kv_cache_utilization"u8.ToArray(),
        CacheInfoStyle = CacheInfo.Gauges,
        BlockSizeLabel = "trtllm_kv_cache_tokens_per_block"u8.ToArray(),
        NumBlocksLabel = "trtllm_kv_cache_max_blocks"u8.ToArray(),
        PromptTokens = "trtllm_prompt_tokens_total"u8.ToArray(),
        GenerationTokens = "trtllm_generation_tokens_total"u8.ToArray(),
        CacheHitRate = "trtllm_kv_cache_hit_rate"u8.ToArray(),
        Success = "trtllm_request_success_total"u8.ToArray(),
        Ttft = "trtllm_time_to_first_token_seconds"u8.ToArray(),
        Itl = "trtllm_time_per_output_token_seconds"u8.ToArray(),
        E2e = "trtllm_e2e_request_latency_seconds"u8.ToArray(),
        QueueTime = "trtllm_request_queue_time_seconds"u8.ToArray(),
    };
}
