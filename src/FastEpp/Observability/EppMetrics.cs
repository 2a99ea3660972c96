using System.Globalization;
using System.Text;
using FastEpp.Body;
using Endpoint = FastEpp.Endpoints.Endpoint;
using static FastEpp.Observability.PrometheusText;

namespace FastEpp.Observability;

/// <summary>
/// The reference EPP's request, scheduler and prefix-indexer metric families (spec runtime.md §6.1): same names,
/// help texts, label names and buckets, created lazily per label set. Recording is lock-free and allocates only
/// the first time a label set is seen. The Go client's metric registry is not used: its names, buckets and
/// float formatting are reproduced here exactly, which no .NET Prometheus library guarantees.
/// </summary>
internal sealed class EppMetrics
{
    private const string Alpha = "[ALPHA] ";

    // Bucket sets (spec §6.1).
    private static readonly double[] s_general = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
    private static readonly double[] s_scheduler = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];
    private static readonly double[] s_requestBytes = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824];
    private static readonly double[] s_responseBytes = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536];
    private static readonly double[] s_inputTokens = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536, 131072, 262144, 524288, 1048576];
    private static readonly double[] s_outputTokens = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
    private static readonly double[] s_ntpot = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
    private static readonly double[] s_hitRatio = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
    private static readonly double[] s_hitBytes = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];

    internal readonly record struct Models(string Model, string Target);
    internal readonly record struct ModelsPriority(string Model, string Target, int Priority);
    internal readonly record struct ModelsCode(string Model, string Target, string Code);
    internal readonly record struct Attempt(bool Success, string Target, string PodName, string EndpointName, int Port);
    internal readonly record struct Rewrite(string Rule, string Model, string Target);
    internal readonly record struct NoLabels;
    internal readonly record struct PluginPoint(string ExtensionPoint, string Type, string Name);
    internal readonly record struct FlowQueue(string FairnessId, int Priority, string Pool, string Model, string Target);
    internal readonly record struct FlowOutcome(string FairnessId, int Priority, string Outcome, string Pool, string Model, string Target);
    internal readonly record struct FlowEnqueue(string FairnessId, int Priority, string Outcome);

    private static readonly double[] s_flowQueue = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private static string FlowQueueLabels(FlowQueue k) => LabelList(("fairness_id", k.FairnessId), ("inference_pool", k.Pool), ("model_name", k.Model),
        ("priority", k.Priority.ToString(CultureInfo.InvariantCulture)), ("target_model_name", k.Target));

    private readonly Family<FlowQueue, ValueCell> _flowQueueSize = new("inference_extension_flow_control_queue_size",
        Alpha + "Current number of requests actively held in the Flow Control queue.", "gauge", static () => new ValueCell(), FlowQueueLabels);
    private readonly Family<FlowQueue, ValueCell> _flowQueueBytes = new("inference_extension_flow_control_queue_bytes",
        Alpha + "Current total size in bytes of requests actively held in the Flow Control queue.", "gauge", static () => new ValueCell(), FlowQueueLabels);
    private readonly Family<FlowOutcome, Histogram> _flowQueueDuration = new("inference_extension_flow_control_request_queue_duration_seconds",
        Alpha + "Distribution of total time requests spend in the Flow Control layer (from enqueue to final outcome).", "histogram",
        static () => new Histogram(s_flowQueue),
        static k => LabelList(("fairness_id", k.FairnessId), ("inference_pool", k.Pool), ("model_name", k.Model), ("outcome", k.Outcome),
            ("priority", k.Priority.ToString(CultureInfo.InvariantCulture)), ("target_model_name", k.Target)));
    private readonly Family<FlowEnqueue, Histogram> _flowEnqueueDuration = new("inference_extension_flow_control_request_enqueue_duration_seconds",
        Alpha + "Distribution of time taken to enqueue requests into the Flow Control layer.", "histogram",
        static () => new Histogram(s_scheduler),
        static k => LabelList(("fairness_id", k.FairnessId), ("outcome", k.Outcome), ("priority", k.Priority.ToString(CultureInfo.InvariantCulture))));
    private readonly Family<NoLabels, Histogram> _flowDispatchCycle = new("inference_extension_flow_control_dispatch_cycle_duration_seconds",
        Alpha + "Distribution of time taken for each internal dispatch cycle in the Flow Control layer.", "histogram",
        static () => new Histogram(s_scheduler), static _ => "");

    /// <summary>Time spent enqueueing; <paramref name="outcome"/> null = queued (the reference's NotYetFinalized).</summary>
    public void FlowEnqueued(string fairnessId, int priority, Admission.AdmissionOutcome? outcome, double seconds) =>
        _flowEnqueueDuration[new FlowEnqueue(fairnessId, priority, outcome is { } o ? OutcomeLabel(o) : "NotYetFinalized")].Observe(seconds);

    public void FlowDispatchCycle(double seconds) => _flowDispatchCycle[default].Observe(seconds);

    private readonly Family<string, ValueCell> _flowSaturation = new("inference_extension_flow_control_pool_saturation",
        Alpha + "Current saturation level of the inference pool (0.0 = empty, 1.0 = fully saturated).", "gauge", static () => new ValueCell(),
        static pool => LabelList(("inference_pool", pool)));

    public void FlowQueueChanged(string fairnessId, int priority, string pool, string model, string target, int delta, long bytes)
    {
        var key = new FlowQueue(fairnessId, priority, pool, model, target);
        _flowQueueSize[key].Add(delta);
        _flowQueueBytes[key].Add(delta * (double)bytes);
    }

    public void FlowQueueDuration(string fairnessId, int priority, Admission.AdmissionOutcome outcome, string pool, string model, string target, double seconds) =>
        _flowQueueDuration[new FlowOutcome(fairnessId, priority, OutcomeLabel(outcome), pool, model, target)].Observe(seconds);

    public void FlowPoolSaturation(string pool, double saturation) => _flowSaturation[pool].Set(saturation);

    private static string OutcomeLabel(Admission.AdmissionOutcome outcome) => outcome switch
    {
        Admission.AdmissionOutcome.Dispatched => "Dispatched",
        Admission.AdmissionOutcome.RejectedCapacity => "RejectedCapacity",
        Admission.AdmissionOutcome.RejectedOther => "RejectedOther",
        Admission.AdmissionOutcome.EvictedTTL => "EvictedTTL",
        Admission.AdmissionOutcome.EvictedContextCancelled => "EvictedContextCancelled",
        _ => "EvictedOther",
    };

    private static Family<Models, Histogram> ModelHistogram(string name, string help, double[] buckets) =>
        new(name, Alpha + help, "histogram", () => new Histogram(buckets), static k => LabelList(("model_name", k.Model), ("target_model_name", k.Target)));

    private readonly Family<ModelsPriority, ValueCell> _requestTotal = new("inference_objective_request_total",
        Alpha + "Counter of inference objective requests broken out for each model and target model.", "counter", static () => new ValueCell(),
        static k => LabelList(("model_name", k.Model), ("priority", k.Priority.ToString(CultureInfo.InvariantCulture)), ("target_model_name", k.Target)));
    private readonly Family<ModelsCode, ValueCell> _requestErrors = new("inference_objective_request_error_total",
        Alpha + "Counter of inference objective requests errors broken out for each model and target model.", "counter", static () => new ValueCell(),
        static k => LabelList(("error_code", k.Code), ("model_name", k.Model), ("target_model_name", k.Target)));
    private readonly Family<Models, Histogram> _duration = ModelHistogram("inference_objective_request_duration_seconds",
        "Inference objective response latency distribution in seconds for each model and target model.", s_general);
    private readonly Family<Models, Histogram> _requestSizes = ModelHistogram("inference_objective_request_sizes",
        "Inference objective requests size distribution in bytes for each model and target model.", s_requestBytes);
    private readonly Family<Models, Histogram> _responseSizes = ModelHistogram("inference_objective_response_sizes",
        "Inference objective responses size distribution in bytes for each model and target model.", s_responseBytes);
    private readonly Family<Models, Histogram> _inputTokens = ModelHistogram("inference_objective_input_tokens",
        "Inference objective input token count distribution for requests in each model.", s_inputTokens);
    private readonly Family<Models, Histogram> _outputTokens = ModelHistogram("inference_objective_output_tokens",
        "Inference objective output token count distribution for requests in each model.", s_outputTokens);
    private readonly Family<Models, Histogram> _cachedTokens = ModelHistogram("inference_objective_prompt_cached_tokens",
        "Inference objective prompt cached token count distribution for requests in each model.", s_inputTokens);
    private readonly Family<Models, Histogram> _ntpot = ModelHistogram("inference_objective_normalized_time_per_output_token_seconds",
        "Inference objective latency divided by number of output tokens in seconds for each model and target model.", s_ntpot);
    private readonly Family<string, ValueCell> _running = new("inference_objective_running_requests",
        Alpha + "Inference objective number of running requests in each model.", "gauge", static () => new ValueCell(),
        static model => LabelList(("model_name", model)));
    private readonly Family<NoLabels, Histogram> _schedulerE2e = new("inference_extension_scheduler_e2e_duration_seconds",
        Alpha + "End-to-end scheduling latency distribution in seconds.", "histogram", static () => new Histogram(s_scheduler), static _ => "");
    private readonly Family<Attempt, ValueCell> _attempts = new("inference_extension_scheduler_attempts_total",
        Alpha + "Total number of scheduling attempts.", "counter", static () => new ValueCell(),
        static k => LabelList(("namespace", Namespace(k.EndpointName)), ("pod_name", k.PodName),
            ("port", k.Port > 0 ? k.Port.ToString(CultureInfo.InvariantCulture) : ""), ("status", k.Success ? "success" : "failure"), ("target_model_name", k.Target)));
    private readonly Family<NoLabels, Histogram> _hitRatio = new("inference_extension_prefix_indexer_hit_ratio",
        Alpha + "Ratio of prefix length matched to total prefix length in the cache lookup.", "histogram", static () => new Histogram(s_hitRatio), static _ => "");
    private readonly Family<NoLabels, Histogram> _hitBytes = new("inference_extension_prefix_indexer_hit_bytes",
        Alpha + "Length of the prefix match in number of bytes in the cache lookup.", "histogram", static () => new Histogram(s_hitBytes), static _ => "");
    private readonly Family<Rewrite, ValueCell> _rewrites = new("inference_extension_model_rewrite_decisions_total",
        Alpha + "Total number of inference model rewrite decisions.", "counter", static () => new ValueCell(),
        static k => LabelList(("model_name", k.Model), ("model_rewrite_name", k.Rule), ("target_model", k.Target)));

    private readonly Family<PluginPoint, Histogram> _pluginDurations = new("inference_extension_plugin_duration_seconds",
        Alpha + "Plugin processing latency distribution in seconds for each extension point, plugin type and plugin name.", "histogram",
        static () => new Histogram(s_scheduler),
        static k => LabelList(("extension_point", k.ExtensionPoint), ("plugin_name", k.Name), ("plugin_type", k.Type)));

    /// <summary>
    /// The duration histogram of one plugin at one extension point, resolved once when the scheduler is built so
    /// timing a plugin is two timestamps and an Observe; the series is exported from its first observation.
    /// </summary>
    public Histogram PluginDuration(string extensionPoint, string pluginType, string pluginName) =>
        _pluginDurations[new PluginPoint(extensionPoint, pluginType, pluginName)];

    // FastEpp's own: the precise-prefix-cache-producer's KV-event ingestion and fallbacks (Prefix/Precise).
    private readonly Family<string, ValueCell> _precise = new("fastepp_precise_prefix_total",
        "KV-event ingestion and fallbacks of the precise-prefix-cache-producer, by event.", "counter", static () => new ValueCell(), static e => LabelList(("event", e)));

    /// <summary>The counter of one precise-prefix event kind (see Prefix/Precise/PreciseCounters.cs).</summary>
    public ValueCell PrecisePrefix(string kind) => _precise[kind];

    /// <summary>Total prefix-index entries, read at scrape time (null: no prefix producer configured).</summary>
    public Func<long>? PrefixIndexSize { get; set; }

    /// <summary>The request was scheduled and its body forwarded (request_total, request_sizes).</summary>
    public void RequestScheduled(string model, string target, int priority, long requestBytes)
    {
        _requestTotal[new ModelsPriority(model, target, priority)].Add(1);
        _requestSizes[new Models(model, target)].Observe(requestBytes);
    }

    /// <summary>Once per stream that ended with an error or a non-200 upstream status.</summary>
    public void RequestError(string model, string target, string code)
    {
        if (code.Length > 0)
            _requestErrors[new ModelsCode(model, target, code)].Add(1);
    }

    public void RunningChanged(string model, int delta)
    {
        if (model.Length > 0)
            _running[model].Add(delta);
    }

    /// <summary>A usage object was parsed from the response.</summary>
    public void UsageSeen(string model, string target, in Usage usage)
    {
        var key = new Models(model, target);
        if (usage.PromptTokens > 0)
            _inputTokens[key].Observe(usage.PromptTokens);
        if (usage.CompletionTokens > 0)
            _outputTokens[key].Observe(usage.CompletionTokens);
        if (usage.HasCachedTokens)
            _cachedTokens[key].Observe(usage.CachedTokens);
    }

    /// <summary>The response completed: latency (received → complete), NTPOT and response size.</summary>
    public void ResponseComplete(string model, string target, double seconds, long responseBytes, int completionTokens)
    {
        var key = new Models(model, target);
        if (seconds > 0)
        {
            if (completionTokens > 0)
                _ntpot[key].Observe(seconds / completionTokens);
            _duration[key].Observe(seconds);
        }
        _responseSizes[key].Observe(responseBytes);
    }

    /// <summary>One Schedule call: its duration and outcome (the primary endpoint on success).</summary>
    public void SchedulerAttempt(double seconds, string target, Endpoint? primary)
    {
        _schedulerE2e[default].Observe(seconds);
        _attempts[primary is null
            ? new Attempt(false, target, "", "", 0)
            : new Attempt(true, target, primary.PodName, primary.Name, primary.Port)].Add(1);
    }

    /// <summary>The prefix match of the chosen endpoint, in (approximate) bytes.</summary>
    public void PrefixMatch(long matchedBytes, long totalBytes)
    {
        _hitBytes[default].Observe(matchedBytes);
        if (totalBytes > 0)
            _hitRatio[default].Observe((double)matchedBytes / totalBytes);
    }

    public void ModelRewrite(string rule, string model, string target) => _rewrites[new Rewrite(rule, model, target)].Add(1);

    public void Write(StringBuilder sb) => Write(new ExpositionWriter(sb));

    /// <summary>Writes every family that has at least one series, in name order (as the Go registry gathers).</summary>
    public void Write(ExpositionWriter writer)
    {
        _flowSaturation.Write(writer);
        _flowDispatchCycle.Write(writer);
        _flowEnqueueDuration.Write(writer);
        _flowQueueBytes.Write(writer);
        _flowQueueSize.Write(writer);
        _flowQueueDuration.Write(writer);
        _rewrites.Write(writer);
        if (PrefixIndexSize is { } size)
        {
            writer.Single("inference_extension_prefix_indexer_size", Alpha + "Size of the prefix indexer.", "gauge", size());
        }
        _hitBytes.Write(writer);
        _hitRatio.Write(writer);
        _precise.Write(writer);
        _pluginDurations.Write(writer);
        _attempts.Write(writer);
        _schedulerE2e.Write(writer);
        _inputTokens.Write(writer);
        _ntpot.Write(writer);
        _outputTokens.Write(writer);
        _cachedTokens.Write(writer);
        _duration.Write(writer);
        _requestErrors.Write(writer);
        _requestSizes.Write(writer);
        _requestTotal.Write(writer);
        _responseSizes.Write(writer);
        _running.Write(writer);
    }

    private static string Namespace(string endpointName)
    {
        int slash = endpointName.IndexOf('/');
        return slash > 0 ? endpointName[..slash] : "";
    }
}
