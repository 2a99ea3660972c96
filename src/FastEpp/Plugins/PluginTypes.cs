namespace FastEpp.Plugins;

/// <summary>
/// Every plugin type string of the reference registry (spec scheduling.md §2.11), declared once.
/// Lookup is case-sensitive (Ordinal), as in the reference.
/// </summary>
internal static class PluginTypes
{
    public const string PrefixCacheScorer = "prefix-cache-scorer";
    public const string MaxScorePicker = "max-score-picker";
    public const string RandomPicker = "random-picker";
    public const string WeightedRandomPicker = "weighted-random-picker";
    public const string SingleProfileHandler = "single-profile-handler";
    public const string KvCacheUtilizationScorer = "kv-cache-utilization-scorer";
    public const string QueueScorer = "queue-scorer";
    public const string RunningRequestsSizeScorer = "running-requests-size-scorer";
    public const string LoraAffinityScorer = "lora-affinity-scorer";
    public const string TokenLoadScorer = "token-load-scorer";
    public const string GlobalStrictFairnessPolicy = "global-strict-fairness-policy";
    public const string RoundRobinFairnessPolicy = "round-robin-fairness-policy";
    public const string FcfsOrderingPolicy = "fcfs-ordering-policy";
    public const string EdfOrderingPolicy = "edf-ordering-policy";
    public const string SloDeadlineOrderingPolicy = "slo-deadline-ordering-policy";
    public const string StaticUsageLimitPolicy = "static-usage-limit-policy";
    public const string ApproxPrefixCacheProducer = "approx-prefix-cache-producer";
    public const string InFlightLoadProducer = "inflight-load-producer";
    public const string PredictedLatencyProducer = "predicted-latency-producer";
    public const string LatencySloAdmitter = "latency-slo-admitter";
    public const string PrefixCacheAffinityFilter = "prefix-cache-affinity-filter";
    public const string SloHeadroomTierFilter = "slo-headroom-tier-filter";
    public const string LatencyScorer = "latency-scorer";
    public const string HeaderBasedTestingFilter = "header-based-testing-filter";
    public const string DestinationEndpointServedVerifier = "destination-endpoint-served-verifier";
    public const string MetricsDataSource = "metrics-data-source";
    public const string CoreMetricsExtractor = "core-metrics-extractor";
    public const string K8sNotificationSource = "k8s-notification-source";
    public const string EndpointNotificationSource = "endpoint-notification-source";
    public const string RequestAttributeReporter = "request-attribute-reporter";
    public const string OpenAiParser = "openai-parser";
    public const string VllmGrpcParser = "vllmgrpc-parser";
    public const string PassthroughParser = "passthrough-parser";
    public const string ConcurrencyDetector = "concurrency-detector";
    public const string UtilizationDetector = "utilization-detector";

    /// <summary>All registered types, in the order of spec §2.11.</summary>
    public static readonly string[] All =
    [
        PrefixCacheScorer, MaxScorePicker, RandomPicker, WeightedRandomPicker, SingleProfileHandler,
        KvCacheUtilizationScorer, QueueScorer, RunningRequestsSizeScorer, LoraAffinityScorer, TokenLoadScorer,
        GlobalStrictFairnessPolicy, RoundRobinFairnessPolicy, FcfsOrderingPolicy, EdfOrderingPolicy,
        SloDeadlineOrderingPolicy, StaticUsageLimitPolicy, ApproxPrefixCacheProducer, InFlightLoadProducer,
        PredictedLatencyProducer, LatencySloAdmitter, PrefixCacheAffinityFilter, SloHeadroomTierFilter,
        LatencyScorer, HeaderBasedTestingFilter, DestinationEndpointServedVerifier, MetricsDataSource,
        CoreMetricsExtractor, K8sNotificationSource, EndpointNotificationSource, RequestAttributeReporter,
        OpenAiParser, VllmGrpcParser, PassthroughParser, ConcurrencyDetector, UtilizationDetector,
    ];
}
