using System.Net;

namespace FastEpp.Sim.Tests.Http;

/// <summary>/metrics: parses as Prometheus text and carries the names the EPP scrapes (scheduling.md §4.3, §5.1).</summary>
public sealed class MetricsTests
{
    private const string Model = "meta-llama/Llama-3.1-8B-Instruct";

    [Fact]
    public async Task Vllm_NamesParseAndReflectTraffic()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--lora-modules", "food-review-1", "--max-loras", "2");
        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage r = await h.PostJsonAsync(0, "/v1/completions", $$"""{"model":"{{Model}}","prompt":"hello hello hello hello","max_tokens":4}""");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        using HttpResponseMessage resp = await h.Client.GetAsync(h.Url(0, "/metrics"));
        Assert.Equal("text/plain", resp.Content.Headers.ContentType?.MediaType);
        PrometheusText m = PrometheusText.Parse(await resp.Content.ReadAsStringAsync());

        (string, string) model = ("model_name", Model);
        Assert.Equal(0, m.Value("vllm:num_requests_waiting", model));
        Assert.Equal(0, m.Value("vllm:num_requests_running", model));
        Assert.Equal(0, m.Value("vllm:kv_cache_usage_perc", model));
        Assert.Equal(12, m.Value("vllm:generation_tokens_total", model));
        Assert.Equal(18, m.Value("vllm:prompt_tokens_total", model));
        Assert.Equal(18, m.Value("vllm:prefix_cache_queries_total", model));
        Assert.Equal(0, m.Value("vllm:prefix_cache_hits_total", model));
        Assert.Equal(3, m.Value("vllm:request_success_total", model, ("finished_reason", "length")));
        Assert.Equal("counter", m.Types["vllm:prompt_tokens_total"]);

        Dictionary<string, string> cache = m.Labels("vllm:cache_config_info");
        Assert.Equal("16", cache["block_size"]);
        Assert.Equal("28600", cache["num_gpu_blocks"]);

        Dictionary<string, string> lora = m.Labels("vllm:lora_requests_info");
        Assert.Equal("2", lora["max_lora"]);
        Assert.Equal("", lora["running_lora_adapters"]);
        Assert.Equal("", lora["waiting_lora_adapters"]);
        Assert.True(m.Value("vllm:lora_requests_info") > 1.7e9);   // value = Unix time of the sample

        foreach (string hist in new[] { "vllm:time_to_first_token_seconds", "vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds", "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds" })
        {
            Assert.Equal("histogram", m.Types[hist]);
            AssertHistogramConsistent(m, hist);
        }
        Assert.Equal(3, m.Value("vllm:time_to_first_token_seconds_count", model));
        Assert.Equal(9, m.Value("vllm:time_per_output_token_seconds_count", model));
    }

    [Fact]
    public async Task Vllm_GaugesShowRunningAndWaitingUnderLoad()
    {
        // max-num-seqs 2: four long streams → 2 running, 2 waiting, and the KV cache in use.
        await using FleetHarness h = await FleetHarness.StartAsync("--max-num-seqs", "2", "--lora-modules", "a,b", "--max-loras", "1");
        var streams = new List<Task>();
        var cts = new CancellationTokenSource();
        foreach (string model in new[] { "a", "a", "b", Model })
        {
            streams.Add(Task.Run(async () =>
            {
                try
                {
                    using HttpResponseMessage r = await h.Client.PostAsync(h.Url(0, "/v1/completions"),
                        new StringContent($$"""{"model":"{{model}}","prompt":"{{new string('p', 4000)}}","max_tokens":100000,"stream":true}"""),
                        cts.Token);
                    await r.Content.ReadAsStringAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }));
            await Task.Delay(20);
        }
        PrometheusText m;
        int spins = 0;
        do
        {
            await Task.Delay(50);
            m = PrometheusText.Parse(await h.Client.GetStringAsync(h.Url(0, "/metrics")));
        }
        while (m.Value("vllm:num_requests_running") + m.Value("vllm:num_requests_waiting") < 4 && ++spins < 200);

        Assert.Equal(2, m.Value("vllm:num_requests_running"));
        Assert.Equal(2, m.Value("vllm:num_requests_waiting"));
        Assert.True(m.Value("vllm:kv_cache_usage_perc") > 0);
        Dictionary<string, string> lora = m.Labels("vllm:lora_requests_info");
        Assert.Equal("a", lora["running_lora_adapters"]);
        Assert.Equal("b", lora["waiting_lora_adapters"]);
        cts.Cancel();
        await Task.WhenAll(streams);
    }

    [Fact]
    public async Task Sglang_Dialect_UsesSglangNames()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--dialect", "sglang");
        PrometheusText m = PrometheusText.Parse(await h.Client.GetStringAsync(h.Url(0, "/metrics")));
        Assert.Equal(0, m.Value("sglang:num_queue_reqs"));
        Assert.Equal(0, m.Value("sglang:num_running_reqs"));
        Assert.Equal(0, m.Value("sglang:token_usage"));
        Assert.Equal("16", m.Labels("sglang:cache_config_info")["page_size"]);
        Assert.Equal("28600", m.Labels("sglang:cache_config_info")["num_pages"]);
        Assert.DoesNotContain(m.Types.Keys, k => k.StartsWith("vllm:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TrtllmServe_Dialect_UsesTrtllmNames()
    {
        await using FleetHarness h = await FleetHarness.StartAsync("--dialect", "trtllm-serve", "--num-gpu-blocks", "5000");
        PrometheusText m = PrometheusText.Parse(await h.Client.GetStringAsync(h.Url(0, "/metrics")));
        Assert.Equal(0, m.Value("trtllm_num_requests_waiting"));
        Assert.Equal(0, m.Value("trtllm_num_requests_running"));
        Assert.Equal(0, m.Value("trtllm_kv_cache_utilization"));
        Assert.Equal(16, m.Value("trtllm_kv_cache_tokens_per_block"));
        Assert.Equal(5000, m.Value("trtllm_kv_cache_max_blocks"));
    }

    private static void AssertHistogramConsistent(PrometheusText m, string family)
    {
        var buckets = m.Samples.Where(s => s.Name == family + "_bucket").ToList();
        Assert.NotEmpty(buckets);
        Assert.Equal("+Inf", buckets[^1].Labels["le"]);
        for (int i = 1; i < buckets.Count; i++)
        {
            Assert.True(buckets[i].Value >= buckets[i - 1].Value, $"{family} buckets must be cumulative");
        }
        Assert.Equal(buckets[^1].Value, m.Value(family + "_count"));
    }
}
