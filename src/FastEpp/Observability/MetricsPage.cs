using System.Text;
using FastEpp.Endpoints;
using FastEpp.Requests;
using FastEpp.Metrics;
using FastEpp.Prefix;

namespace FastEpp.Observability;

/// <summary>
/// The /metrics page of the metrics port, rendered at scrape time: the build info, the reference's pool gauges
/// (spec runtime.md §6.1), the request/scheduler/prefix families (<see cref="EppMetrics"/>), the Go client's
/// process families, then FastEpp's own prefix-index and ext_proc families, in that order. Reads only published
/// state (the pool snapshot, the endpoint snapshot, counters); every line goes through <see cref="ExpositionWriter"/>.
/// </summary>
internal sealed class MetricsPage(string poolName, EndpointRegistry registry, PoolMetricsAggregator pool, EppMetrics metrics,
    RequestStats stats, PrefixIndex[] prefixIndexes)
{
    private const string Gauge = "gauge";
    private const string Counter = "counter";

    public string Render()
    {
        var sb = new StringBuilder(1024);
        var writer = new ExpositionWriter(sb);
        WriteBuildInfo(writer);
        WritePoolGauges(writer);
        metrics.Write(writer);
        ProcessMetrics.Write(writer);
        WritePrefixIndexBytes(writer);
        WriteExtProcFamilies(writer);
        return sb.ToString();
    }

    private static void WriteBuildInfo(ExpositionWriter writer)
    {
        writer.Family("inference_extension_info", "[ALPHA] General information of the current build of Inference Extension.", Gauge);
        writer.SampleInteger("inference_extension_info", PrometheusText.LabelList(("build_ref", "fastepp"), ("commit", "unknown")), 1);
    }

    private void WritePoolGauges(ExpositionWriter writer)
    {
        string poolLabel = PrometheusText.LabelList(("name", poolName));
        void Average(string name, string help, double value)
        {
            writer.Family(name, help, Gauge);
            writer.Sample(name, poolLabel, value); // Go's float text, as client_golang writes gauges
        }
        var p = pool.Current;
        if (p.HasPool)
        {
            Average("inference_pool_average_kv_cache_utilization", "[ALPHA] The average kv cache utilization for an inference server pool.", p.AverageKvCacheUtilization);
            Average("inference_pool_average_queue_size", "[ALPHA] The average number of requests pending in the model server queue.", p.AverageQueueSize);
            Average("inference_pool_average_running_requests", "[ALPHA] The average number of running requests across model servers in the pool.", p.AverageRunningRequests);
            writer.Family("inference_pool_ready_pods", "[ALPHA] The number of ready pods in the inference server pool.", Gauge);
            writer.SampleInteger("inference_pool_ready_pods", poolLabel, p.ReadyEndpoints);
        }
        var snapshot = registry.Current;
        if (snapshot.Count > 0)
        {
            writer.Family("inference_pool_per_pod_queue_size", "[ALPHA] The total number of requests pending in the model server queue for each underlying pod.", Gauge);
            foreach (var e in snapshot.Endpoints)
            {
                string pod = e.Name[(e.Name.IndexOf('/') + 1)..]; // "namespace/pod-rank-n" → "pod-rank-n"
                writer.SampleInteger("inference_pool_per_pod_queue_size", PrometheusText.LabelList(("model_server_pod", pod), ("name", poolName)),
                    e.State.Metrics.WaitingQueueSize);
            }
        }
    }

    private void WritePrefixIndexBytes(ExpositionWriter writer)
    {
        if (prefixIndexes.Length == 0)
            return;
        long bytes = 0;
        foreach (var index in prefixIndexes)
            bytes += index.ApproximateBytes;
        writer.SingleInteger("fastepp_prefix_index_bytes", "Approximate memory held by the prefix-cache index.", Gauge, bytes);
    }

    private void WriteExtProcFamilies(ExpositionWriter writer)
    {
        writer.SingleInteger("fastepp_extproc_requests_total", "Requests seen on ext_proc streams.", Counter, stats.Requests);
        writer.SingleInteger("fastepp_extproc_errors_total", "Requests answered with an ImmediateResponse error.", Counter, stats.Errors);
        writer.SingleInteger("fastepp_extproc_protocol_errors_total", "ext_proc streams ended for protocol misuse.", Counter, stats.ProtocolErrors);
        writer.SingleInteger("fastepp_extproc_running_requests", "Requests scheduled whose response has not completed.", Gauge, stats.Running);
    }
}
