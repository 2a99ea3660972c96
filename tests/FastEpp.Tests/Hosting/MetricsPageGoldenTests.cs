using System.Text.RegularExpressions;
using FastEpp.Endpoints;
using FastEpp.Tests.ExtProc;

namespace FastEpp.Tests.Hosting;

/// <summary>
/// The whole /metrics page for a fixed state, byte for byte: every family the host exports (build info, pool
/// gauges, per-pod queue, the reference's request/scheduler/prefix families, process_*, FastEpp's own counters),
/// in order. Only the process_* sample values are masked (they belong to the test process).
/// </summary>
public sealed partial class MetricsPageGoldenTests
{
    [GeneratedRegex("^(process_[a-z_]+) \\S+$", RegexOptions.Multiline)]
    private static partial Regex ProcessSample();

    [Fact]
    public async Task RenderMetrics_FixedState_IsTheGoldenPage()
    {
        // The poller never reaches these addresses and the pool loop ticks hourly; the test sets the state itself.
        await using var epp = await EppServer.StartAsync("10.255.0.1:8000,10.255.0.2:8001",
            "--refresh-prometheus-metrics-interval", "1h", "--metrics-staleness-threshold", "1h");
        var endpoints = epp.Endpoints.Endpoints;
        var now = DateTimeOffset.UtcNow;
        // A KV average below 1e-4 pins today's text for the pool gauges (.NET "E-05", not Go's "e-05").
        endpoints[0].State.SetMetrics(new EndpointMetrics { WaitingQueueSize = 3, RunningRequestsSize = 2, KvCacheUsagePercent = 0.00001, UpdatedAt = now });
        endpoints[1].State.SetMetrics(new EndpointMetrics { WaitingQueueSize = 0, RunningRequestsSize = 5, KvCacheUsagePercent = 0.00002, UpdatedAt = now });
        epp.Host.PoolMetrics.Refresh();

        var m = epp.Host.Metrics;
        m.RequestScheduled("llama", "llama-lora", 1, 1500);
        m.RequestError("llama", "llama-lora", "BadRequest");
        m.RunningChanged("llama", 1);
        m.SchedulerAttempt(0.0003, "llama-lora", endpoints[1]);
        m.SchedulerAttempt(0.00001, "llama-lora", null);
        m.PrefixMatch(64, 256);
        m.ModelRewrite("rule-1", "llama", "llama-lora");
        m.ResponseComplete("llama", "llama-lora", 2.5, 300, 10);

        var stats = epp.Host.Runtime.Stats;
        stats.Request();
        stats.Request();
        stats.Error();
        stats.ProtocolError();
        stats.Started();

        string page = ProcessSample().Replace(epp.Host.RenderMetrics(), "$1 X");
        Assert.Equal(Golden, page);
    }

    private static readonly string Golden = """
        # HELP inference_extension_info [ALPHA] General information of the current build of Inference Extension.
        # TYPE inference_extension_info gauge
        inference_extension_info{build_ref="fastepp",commit="unknown"} 1
        # HELP inference_pool_average_kv_cache_utilization [ALPHA] The average kv cache utilization for an inference server pool.
        # TYPE inference_pool_average_kv_cache_utilization gauge
        inference_pool_average_kv_cache_utilization{name=""} 1.5000000000000002e-05
        # HELP inference_pool_average_queue_size [ALPHA] The average number of requests pending in the model server queue.
        # TYPE inference_pool_average_queue_size gauge
        inference_pool_average_queue_size{name=""} 1.5
        # HELP inference_pool_average_running_requests [ALPHA] The average number of running requests across model servers in the pool.
        # TYPE inference_pool_average_running_requests gauge
        inference_pool_average_running_requests{name=""} 3.5
        # HELP inference_pool_ready_pods [ALPHA] The number of ready pods in the inference server pool.
        # TYPE inference_pool_ready_pods gauge
        inference_pool_ready_pods{name=""} 2
        # HELP inference_pool_per_pod_queue_size [ALPHA] The total number of requests pending in the model server queue for each underlying pod.
        # TYPE inference_pool_per_pod_queue_size gauge
        inference_pool_per_pod_queue_size{model_server_pod="static-0-rank-0",name=""} 3
        inference_pool_per_pod_queue_size{model_server_pod="static-1-rank-0",name=""} 0
        # HELP inference_extension_model_rewrite_decisions_total [ALPHA] Total number of inference model rewrite decisions.
        # TYPE inference_extension_model_rewrite_decisions_total counter
        inference_extension_model_rewrite_decisions_total{model_name="llama",model_rewrite_name="rule-1",target_model="llama-lora"} 1
        # HELP inference_extension_prefix_indexer_size [ALPHA] Size of the prefix indexer.
        # TYPE inference_extension_prefix_indexer_size gauge
        inference_extension_prefix_indexer_size 0
        # HELP inference_extension_prefix_indexer_hit_bytes [ALPHA] Length of the prefix match in number of bytes in the cache lookup.
        # TYPE inference_extension_prefix_indexer_hit_bytes histogram
        inference_extension_prefix_indexer_hit_bytes_bucket{le="0"} 0
        inference_extension_prefix_indexer_hit_bytes_bucket{le="16"} 0
        inference_extension_prefix_indexer_hit_bytes_bucket{le="32"} 0
        inference_extension_prefix_indexer_hit_bytes_bucket{le="64"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="128"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="256"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="512"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="1024"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="2048"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="4096"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="8192"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="16384"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="32768"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="65536"} 1
        inference_extension_prefix_indexer_hit_bytes_bucket{le="+Inf"} 1
        inference_extension_prefix_indexer_hit_bytes_sum 64
        inference_extension_prefix_indexer_hit_bytes_count 1
        # HELP inference_extension_prefix_indexer_hit_ratio [ALPHA] Ratio of prefix length matched to total prefix length in the cache lookup.
        # TYPE inference_extension_prefix_indexer_hit_ratio histogram
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0"} 0
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.1"} 0
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.2"} 0
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.3"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.4"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.5"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.6"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.7"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.8"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="0.9"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="1"} 1
        inference_extension_prefix_indexer_hit_ratio_bucket{le="+Inf"} 1
        inference_extension_prefix_indexer_hit_ratio_sum 0.25
        inference_extension_prefix_indexer_hit_ratio_count 1
        # HELP inference_extension_scheduler_attempts_total [ALPHA] Total number of scheduling attempts.
        # TYPE inference_extension_scheduler_attempts_total counter
        inference_extension_scheduler_attempts_total{namespace="",pod_name="",port="",status="failure",target_model_name="llama-lora"} 1
        inference_extension_scheduler_attempts_total{namespace="default",pod_name="static-1",port="8001",status="success",target_model_name="llama-lora"} 1
        # HELP inference_extension_scheduler_e2e_duration_seconds [ALPHA] End-to-end scheduling latency distribution in seconds.
        # TYPE inference_extension_scheduler_e2e_duration_seconds histogram
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.0001"} 1
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.0002"} 1
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.0005"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.001"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.002"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.005"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.01"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.02"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.05"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="0.1"} 2
        inference_extension_scheduler_e2e_duration_seconds_bucket{le="+Inf"} 2
        inference_extension_scheduler_e2e_duration_seconds_sum 0.00031
        inference_extension_scheduler_e2e_duration_seconds_count 2
        # HELP inference_objective_normalized_time_per_output_token_seconds [ALPHA] Inference objective latency divided by number of output tokens in seconds for each model and target model.
        # TYPE inference_objective_normalized_time_per_output_token_seconds histogram
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.001"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.002"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.005"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.01"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.02"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.05"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.1"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.2"} 0
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.5"} 1
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="1"} 1
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="2"} 1
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="5"} 1
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="10"} 1
        inference_objective_normalized_time_per_output_token_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="+Inf"} 1
        inference_objective_normalized_time_per_output_token_seconds_sum{model_name="llama",target_model_name="llama-lora"} 0.25
        inference_objective_normalized_time_per_output_token_seconds_count{model_name="llama",target_model_name="llama-lora"} 1
        # HELP inference_objective_request_duration_seconds [ALPHA] Inference objective response latency distribution in seconds for each model and target model.
        # TYPE inference_objective_request_duration_seconds histogram
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.005"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.025"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.05"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.1"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.2"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.4"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.6"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="0.8"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="1"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="1.25"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="1.5"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="2"} 0
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="3"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="4"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="5"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="6"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="8"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="10"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="15"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="20"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="30"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="45"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="60"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="120"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="180"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="240"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="300"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="360"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="480"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="600"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="900"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="1200"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="1800"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="2700"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="3600"} 1
        inference_objective_request_duration_seconds_bucket{model_name="llama",target_model_name="llama-lora",le="+Inf"} 1
        inference_objective_request_duration_seconds_sum{model_name="llama",target_model_name="llama-lora"} 2.5
        inference_objective_request_duration_seconds_count{model_name="llama",target_model_name="llama-lora"} 1
        # HELP inference_objective_request_error_total [ALPHA] Counter of inference objective requests errors broken out for each model and target model.
        # TYPE inference_objective_request_error_total counter
        inference_objective_request_error_total{error_code="BadRequest",model_name="llama",target_model_name="llama-lora"} 1
        # HELP inference_objective_request_sizes [ALPHA] Inference objective requests size distribution in bytes for each model and target model.
        # TYPE inference_objective_request_sizes histogram
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="64"} 0
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="128"} 0
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="256"} 0
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="512"} 0
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="1024"} 0
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="2048"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="4096"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="8192"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="16384"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="32768"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="65536"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="131072"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="262144"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="524288"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="1.048576e+06"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="2.097152e+06"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="4.194304e+06"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="8.388608e+06"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="1.6777216e+07"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="3.3554432e+07"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="6.7108864e+07"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="1.34217728e+08"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="2.68435456e+08"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="5.36870912e+08"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="1.073741824e+09"} 1
        inference_objective_request_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="+Inf"} 1
        inference_objective_request_sizes_sum{model_name="llama",target_model_name="llama-lora"} 1500
        inference_objective_request_sizes_count{model_name="llama",target_model_name="llama-lora"} 1
        # HELP inference_objective_request_total [ALPHA] Counter of inference objective requests broken out for each model and target model.
        # TYPE inference_objective_request_total counter
        inference_objective_request_total{model_name="llama",priority="1",target_model_name="llama-lora"} 1
        # HELP inference_objective_response_sizes [ALPHA] Inference objective responses size distribution in bytes for each model and target model.
        # TYPE inference_objective_response_sizes histogram
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="1"} 0
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="8"} 0
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="16"} 0
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="32"} 0
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="64"} 0
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="128"} 0
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="256"} 0
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="512"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="1024"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="2048"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="4096"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="8192"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="16384"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="32778"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="65536"} 1
        inference_objective_response_sizes_bucket{model_name="llama",target_model_name="llama-lora",le="+Inf"} 1
        inference_objective_response_sizes_sum{model_name="llama",target_model_name="llama-lora"} 300
        inference_objective_response_sizes_count{model_name="llama",target_model_name="llama-lora"} 1
        # HELP inference_objective_running_requests [ALPHA] Inference objective number of running requests in each model.
        # TYPE inference_objective_running_requests gauge
        inference_objective_running_requests{model_name="llama"} 1
        # HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
        # TYPE process_cpu_seconds_total counter
        process_cpu_seconds_total X
        # HELP process_open_fds Number of open file descriptors.
        # TYPE process_open_fds gauge
        process_open_fds X
        # HELP process_max_fds Maximum number of open file descriptors.
        # TYPE process_max_fds gauge
        process_max_fds X
        # HELP process_virtual_memory_bytes Virtual memory size in bytes.
        # TYPE process_virtual_memory_bytes gauge
        process_virtual_memory_bytes X
        # HELP process_resident_memory_bytes Resident memory size in bytes.
        # TYPE process_resident_memory_bytes gauge
        process_resident_memory_bytes X
        # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
        # TYPE process_start_time_seconds gauge
        process_start_time_seconds X
        # HELP fastepp_prefix_index_bytes Approximate memory held by the prefix-cache index.
        # TYPE fastepp_prefix_index_bytes gauge
        fastepp_prefix_index_bytes 69632
        # HELP fastepp_extproc_requests_total Requests seen on ext_proc streams.
        # TYPE fastepp_extproc_requests_total counter
        fastepp_extproc_requests_total 2
        # HELP fastepp_extproc_errors_total Requests answered with an ImmediateResponse error.
        # TYPE fastepp_extproc_errors_total counter
        fastepp_extproc_errors_total 1
        # HELP fastepp_extproc_protocol_errors_total ext_proc streams ended for protocol misuse.
        # TYPE fastepp_extproc_protocol_errors_total counter
        fastepp_extproc_protocol_errors_total 1
        # HELP fastepp_extproc_running_requests Requests scheduled whose response has not completed.
        # TYPE fastepp_extproc_running_requests gauge
        fastepp_extproc_running_requests 1

        """.Replace("\r\n", "\n");
}
