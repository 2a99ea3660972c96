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
    private readonly HashSet<int> _runningAdapters = new();
    private readonly HashSet<int> _waitingAdapters = new();
    private readonly byte[] _running, _waitingGauge, _kvUsage, _cacheInfo, _loraHead, _promptTokens, _generationTokens;
    private readonly byte[] _successHead, _successStop;
    private readonly byte[]? _prefixQueries, _prefixHits, _cacheHitRate, _preemptions;
    private readonly HistogramLines _ttft, _itl, _e2e;
    private readonly HistogramLines? _tpot, _queue;

    /// <summary>Creates a writer for a dialect, base model and adapter list.</summary>
    public MetricsWriter(MetricsDialect dialect, string model, IReadOnlyList<string> adapters, EngineProfile profile)
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
        var w = new ByteWriter(4096);
        w.Write(dialect == MetricsDialect.Vllm ? "{engine=\"0\",model_name=\""u8 : "{model_name=\""u8).WriteLabelValue(model).Write("\"}"u8);
        _labels = w.ToArray();

        Names n = _names;
        _running = SamplePrefix(n.Running, "Number of requests in model execution batches.", "gauge");
        _waitingGauge = SamplePrefix(n.Waiting, "Number of requests waiting to be processed.", "gauge");
        _kvUsage = SamplePrefix(n.KvUsage, "KV-cache usage. 1 means 100 percent usage.", "gauge");
        w.Clear();
        if (n.CacheInfoStyle == CacheInfo.Labels)
        {
            w.Write(Header(n.CacheInfo!, "Information of the LLMEngine CacheConfig.", "gauge"));
            w.Write(n.CacheInfo!).Write("{"u8).Write(n.BlockSizeLabel!).Write("=\""u8).Write(profile.BlockSize)
                .Write("\",enable_prefix_caching=\""u8).Write(profile.EnablePrefixCaching ? "True"u8 : "False"u8)
                .Write("\",model_name=\""u8).WriteLabelValue(model).Write("\","u8)
                .Write(n.NumBlocksLabel!).Write("=\""u8).Write(profile.NumGpuBlocks).Write("\"} 1\n"u8);
        }
        else
        {
            w.Write(SamplePrefix(n.BlockSizeLabel!, "Tokens per KV cache block.", "gauge")).Write(profile.BlockSize).Write("\n"u8);
            w.Write(SamplePrefix(n.NumBlocksLabel!, "KV cache blocks.", "gauge")).Write(profile.NumGpuBlocks).Write("\n"u8);
        }
        _cacheInfo = w.ToArray();
        w.Clear();
        w.Write(Header("vllm:lora_requests_info"u8, "Running stats on lora requests.", "gauge"))
            .Write("vllm:lora_requests_info{max_lora=\""u8).Write(profile.MaxLoras).Write("\",running_lora_adapters=\""u8);
        _loraHead = w.ToArray();
        _promptTokens = SamplePrefix(n.PromptTokens, "Number of prefill tokens processed.", "counter");
        _generationTokens = SamplePrefix(n.GenerationTokens, "Number of generation tokens processed.", "counter");
        if (n.PrefixQueries is not null)
        {
            _prefixQueries = SamplePrefix(n.PrefixQueries, "Prefix cache queries, in terms of number of queried tokens.", "counter");
            _prefixHits = SamplePrefix(n.PrefixHits!, "Prefix cache hits, in terms of number of cached tokens.", "counter");
        }
        if (n.CacheHitRate is not null)
        {
            _cacheHitRate = SamplePrefix(n.CacheHitRate, "The prefix cache hit rate.", "gauge");
        }
        if (n.Preemptions is not null)
        {
            _preemptions = SamplePrefix(n.Preemptions, "Cumulative number of preemption from the engine.", "counter");
        }
        ReadOnlySpan<byte> open = _labels.AsSpan(0, _labels.Length - 1);   // labels without the closing brace
        w.Clear();
        w.Write(Header(n.Success, "Count of successfully processed requests.", "counter"))
            .Write(n.Success).Write(open).Write(",finished_reason=\"length\"} "u8);
        _successHead = w.ToArray();
        w.Clear();
        w.Write("\n"u8).Write(n.Success).Write(open).Write(",finished_reason=\"stop\"} "u8);
        _successStop = w.ToArray();
        _ttft = HistogramText(n.Ttft, "Histogram of time to first token in seconds.", Histogram.TtftBounds);
        _itl = HistogramText(n.Itl, "Histogram of inter-token latency in seconds.", Histogram.TpotBounds);
        if (n.Tpot is not null)
        {
            _tpot = HistogramText(n.Tpot, "Histogram of time per output token in seconds.", Histogram.TpotBounds);
        }
        _e2e = HistogramText(n.E2e, "Histogram of e2e request latency in seconds.", Histogram.RequestBounds);
        if (n.QueueTime is not null)
        {
            _queue = HistogramText(n.QueueTime, "Histogram of time spent in WAITING phase for request.", Histogram.RequestBounds);
        }
        w.Dispose();
    }

    /// <summary>Writes the exposition of <paramref name="engine"/> at Unix time <paramref name="unixNow"/>.</summary>
    public void Write(ByteWriter w, EngineCore engine, double unixNow)
    {
        EngineStats s = engine.Stats;
        Sample(w, _running, engine.RunningCount);
        Sample(w, _waitingGauge, engine.WaitingCount);
        Sample(w, _kvUsage, engine.Kv.Usage);
        w.Write(_cacheInfo);
        if (_lora)
        {
            _runningAdapters.Clear();
            _waitingAdapters.Clear();
            engine.CollectAdapters(_runningAdapters, _waitingAdapters);
            w.Write(_loraHead);
            AdapterList(w, _runningAdapters);
            w.Write("\",waiting_lora_adapters=\""u8);
            AdapterList(w, _waitingAdapters);
            w.Write("\"} "u8).Write(unixNow).Write("\n"u8);
        }
        Sample(w, _promptTokens, s.PromptTokens);
        Sample(w, _generationTokens, s.GenerationTokens);
        if (_prefixQueries is not null)
        {
            Sample(w, _prefixQueries, s.PrefixQueries);
            Sample(w, _prefixHits!, s.PrefixHits);
        }
        if (_cacheHitRate is not null)
        {
            Sample(w, _cacheHitRate, s.PrefixQueries == 0 ? 0 : (double)s.PrefixHits / s.PrefixQueries);
        }
        if (_preemptions is not null)
        {
            Sample(w, _preemptions, s.Preemptions);
        }
        w.Write(_successHead).Write(s.FinishedLength).Write(_successStop).Write(s.FinishedStop).Write("\n"u8);
        Hist(w, _ttft, s.Ttft);
        Hist(w, _itl, s.Itl);
        if (_tpot is not null)
        {
            Hist(w, _tpot, s.Itl);
        }
        Hist(w, _e2e, s.E2e);
        if (_queue is not null)
        {
            Hist(w, _queue, s.Queue);
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

    private static void Sample(ByteWriter w, byte[] prefix, double value) => w.Write(prefix).Write(value).Write("\n"u8);

    private static void Sample(ByteWriter w, byte[] prefix, long value) => w.Write(prefix).Write(value).Write("\n"u8);

    private static void Hist(ByteWriter w, HistogramLines lines, Histogram h)
    {
        w.Write(lines.Header);
        long cumulative = 0;
        for (int i = 0; i < lines.Buckets.Length; i++)
        {
            cumulative += h.BucketCount(i);
            w.Write(lines.Buckets[i]).Write(cumulative).Write("\n"u8);
        }
        w.Write(lines.Sum).Write(h.Sum).Write("\n"u8);
        w.Write(lines.Count).Write(cumulative).Write("\n"u8);
    }

    // ---- precomputed text: everything but the numbers is formatted once per replica ----

    private static byte[] Header(ReadOnlySpan<byte> name, string help, string type)
    {
        using var w = new ByteWriter(256);
        w.Write("# HELP "u8).Write(name).Write(" "u8).Write(help).Write("\n# TYPE "u8).Write(name).Write(" "u8).Write(type).Write("\n"u8);
        return w.ToArray();
    }

    private byte[] SamplePrefix(ReadOnlySpan<byte> name, string help, string type)
    {
        using var w = new ByteWriter(256);
        w.Write(Header(name, help, type)).Write(name).Write(_labels).Write(" "u8);
        return w.ToArray();
    }

    private HistogramLines HistogramText(ReadOnlySpan<byte> name, string help, double[] bounds)
    {
        ReadOnlySpan<byte> inner = _labels.AsSpan(1, _labels.Length - 2);   // labels without braces
        var buckets = new byte[bounds.Length + 1][];
        using var w = new ByteWriter(256);
        for (int i = 0; i <= bounds.Length; i++)
        {
            w.Clear();
            w.Write(name).Write("_bucket{"u8).Write(inner).Write(",le=\""u8);
            if (i < bounds.Length)
            {
                w.Write(bounds[i]);
            }
            else
            {
                w.Write("+Inf"u8);
            }
            w.Write("\"} "u8);
            buckets[i] = w.ToArray();
        }
        w.Clear();
        w.Write(name).Write("_sum"u8).Write(_labels).Write(" "u8);
        byte[] sum = w.ToArray();
        w.Clear();
        w.Write(name).Write("_count"u8).Write(_labels).Write(" "u8);
        return new HistogramLines(Header(name, help, "histogram"), buckets, sum, w.ToArray());
    }

    private sealed record HistogramLines(byte[] Header, byte[][] Buckets, byte[] Sum, byte[] Count);

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
