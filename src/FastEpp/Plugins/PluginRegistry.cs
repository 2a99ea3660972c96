using System.Collections.Frozen;
using FastEpp.Admission.Detectors;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Filters;
using FastEpp.Scheduling.Pickers;
using FastEpp.Scheduling.Producers;
using FastEpp.Scheduling.Profiles;
using FastEpp.Scheduling.Scorers;

namespace FastEpp.Plugins;

/// <summary>Services a plugin factory may use (injected for determinism in tests).</summary>
internal sealed class PluginContext
{
    public static readonly PluginContext Default = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Random source for pickers and filters; null = <see cref="Random.Shared"/> (thread-safe).</summary>
    public Random? Random { get; init; }

    /// <summary>Where plugins report the reference's metrics (prefix indexer); null = not exported.</summary>
    public Observability.EppMetrics? Metrics { get; init; }
}

/// <summary>A plugin factory: (name, parameters, context) → plugin; throws <see cref="ConfigException"/> on bad parameters.</summary>
internal delegate IPlugin PluginFactory(string name, PluginParameters parameters, PluginContext context);

/// <summary>
/// The explicit, compiled-in table of plugin factories (spec §2.11), frozen at start-up: no reflection,
/// no assembly scanning. Lookup is Ordinal (the reference registry is case-sensitive).
/// </summary>
internal static class PluginRegistry
{
    private const string PredictorReason =
        "it needs the external latency-predictor sidecars (PREDICTION_SERVER_URL / TRAINING_SERVER_URL), which FastEpp does not support";

    private static readonly FrozenDictionary<string, PluginFactory> s_factories = new Dictionary<string, PluginFactory>
    {
        [PluginTypes.PrefixCacheScorer] = static (n, p, c) => new PrefixCacheScorer(n),
        [PluginTypes.MaxScorePicker] = static (n, p, c) => new MaxScorePicker(n, p.GetInt("maxNumOfEndpoints", 1), c.Random),
        [PluginTypes.RandomPicker] = static (n, p, c) => new RandomPicker(n, p.GetInt("maxNumOfEndpoints", 1), c.Random),
        [PluginTypes.WeightedRandomPicker] = static (n, p, c) => new WeightedRandomPicker(n, p.GetInt("maxNumOfEndpoints", 1), c.Random),
        [PluginTypes.SingleProfileHandler] = static (n, p, c) => new SingleProfileHandler(n),
        [PluginTypes.KvCacheUtilizationScorer] = static (n, p, c) => new KvCacheUtilizationScorer(n),
        [PluginTypes.QueueScorer] = static (n, p, c) => new QueueScorer(n),
        [PluginTypes.RunningRequestsSizeScorer] = static (n, p, c) => new RunningRequestsSizeScorer(n),
        [PluginTypes.LoraAffinityScorer] = static (n, p, c) => new LoraAffinityScorer(n),
        [PluginTypes.TokenLoadScorer] = static (n, p, c) =>
            new TokenLoadScorer(n, p.GetLong("queueThresholdTokens", TokenLoadScorer.DefaultQueueThresholdTokens)),
        [PluginTypes.GlobalStrictFairnessPolicy] = static (n, p, c) => new ComponentPlugin(PluginTypes.GlobalStrictFairnessPolicy, n, ComponentKind.FairnessPolicy, p),
        [PluginTypes.RoundRobinFairnessPolicy] = static (n, p, c) => new ComponentPlugin(PluginTypes.RoundRobinFairnessPolicy, n, ComponentKind.FairnessPolicy, p),
        [PluginTypes.FcfsOrderingPolicy] = static (n, p, c) => new ComponentPlugin(PluginTypes.FcfsOrderingPolicy, n, ComponentKind.OrderingPolicy, p),
        [PluginTypes.EdfOrderingPolicy] = static (n, p, c) => new ComponentPlugin(PluginTypes.EdfOrderingPolicy, n, ComponentKind.OrderingPolicy, p),
        [PluginTypes.SloDeadlineOrderingPolicy] = static (n, p, c) => new ComponentPlugin(PluginTypes.SloDeadlineOrderingPolicy, n, ComponentKind.OrderingPolicy, p),
        [PluginTypes.StaticUsageLimitPolicy] = static (n, p, c) => ComponentPlugin.StaticUsageLimitPolicy(n, p),
        [PluginTypes.ApproxPrefixCacheProducer] = CreateApproxPrefix,
        [PluginTypes.InFlightLoadProducer] = static (n, p, c) => new InFlightLoadProducer(n),
        [PluginTypes.PredictedLatencyProducer] = static (n, p, c) =>
            new ComponentPlugin(PluginTypes.PredictedLatencyProducer, n, ComponentKind.Unsupported, p, PredictorReason),
        [PluginTypes.LatencySloAdmitter] = static (n, p, c) =>
            new ComponentPlugin(PluginTypes.LatencySloAdmitter, n, ComponentKind.Unsupported, p,
                "it admits by latency predictions, which need the external latency-predictor sidecars FastEpp does not support"),
        [PluginTypes.PrefixCacheAffinityFilter] = CreateAffinityFilter,
        [PluginTypes.SloHeadroomTierFilter] = static (n, p, c) =>
        {
            double eps = p.GetDouble("epsilonExploreNeg", 0.01);
            if (eps is < 0 or > 1)
                throw new ConfigException($"epsilonExploreNeg must be in [0, 1], got {eps}");
            return new ComponentPlugin(PluginTypes.SloHeadroomTierFilter, n, ComponentKind.Unsupported, p,
                "it filters by latency-prediction headroom, which needs the external latency-predictor sidecars FastEpp does not support");
        },
        [PluginTypes.LatencyScorer] = CreateLatencyScorer,
        [PluginTypes.HeaderBasedTestingFilter] = static (n, p, c) => new HeaderBasedTestingFilter(n),
        [PluginTypes.DestinationEndpointServedVerifier] = static (n, p, c) =>
            new ComponentPlugin(PluginTypes.DestinationEndpointServedVerifier, n, ComponentKind.ResponseHeader, p),
        [PluginTypes.MetricsDataSource] = static (n, p, c) => ComponentPlugin.MetricsDataSource(n, p),
        [PluginTypes.CoreMetricsExtractor] = static (n, p, c) => ComponentPlugin.CoreMetricsExtractor(n, p),
        [PluginTypes.K8sNotificationSource] = static (n, p, c) => ComponentPlugin.K8sNotificationSource(n, p),
        [PluginTypes.EndpointNotificationSource] = static (n, p, c) =>
            new ComponentPlugin(PluginTypes.EndpointNotificationSource, n, ComponentKind.DataSource, p),
        [PluginTypes.RequestAttributeReporter] = static (n, p, c) =>
            new ComponentPlugin(PluginTypes.RequestAttributeReporter, n, ComponentKind.Unsupported, p,
                "it evaluates CEL expressions over the response usage, and FastEpp has no CEL evaluator"),
        [PluginTypes.OpenAiParser] = static (n, p, c) => new ComponentPlugin(PluginTypes.OpenAiParser, n, ComponentKind.Parser, p),
        [PluginTypes.VllmGrpcParser] = static (n, p, c) => new ComponentPlugin(PluginTypes.VllmGrpcParser, n, ComponentKind.Parser, p),
        [PluginTypes.PassthroughParser] = static (n, p, c) => new ComponentPlugin(PluginTypes.PassthroughParser, n, ComponentKind.Parser, p),
        [PluginTypes.ConcurrencyDetector] = CreateConcurrencyDetector,
        [PluginTypes.UtilizationDetector] = CreateUtilizationDetector,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    public static bool IsRegistered(string type) => s_factories.ContainsKey(type);

    public static IEnumerable<string> RegisteredTypes => s_factories.Keys;

    public static bool TryGet(string type, out PluginFactory? factory) => s_factories.TryGetValue(type, out factory);

    private static IPlugin CreateApproxPrefix(string name, PluginParameters p, PluginContext c)
    {
        bool autoTune = p.GetBool("autoTune", true);
        int blockSizeTokens = p.GetInt("blockSizeTokens", Prefix.PrefixCacheParameters.DefaultBlockSizeTokens);
        int blockSize = p.GetInt("blockSize", 0);
        int maxBlocks = p.GetInt("maxPrefixBlocksToMatch", Prefix.PrefixCacheParameters.DefaultMaxPrefixBlocksToMatch);
        int maxTokens = p.GetInt("maxPrefixTokensToMatch", 0);
        p.GetInt("lruCapacityPerServer", Prefix.PrefixCacheParameters.DefaultLruCapacityPerServer);
        if (blockSize > 0 && blockSizeTokens <= 0)
            throw new ConfigException("BlockSize is deprecated, use BlockSizeTokens instead");
        if (!autoTune && blockSizeTokens <= 0)
            throw new ConfigException("BlockSizeTokens must be > 0 when AutoTune is disabled");
        if (maxTokens < 0)
            throw new ConfigException("MaxPrefixTokensToMatch must be >= 0");
        return new ApproxPrefixCacheProducer(name, autoTune, blockSizeTokens, maxBlocks, maxTokens) { Metrics = c.Metrics };
    }

    private static IPlugin CreateAffinityFilter(string name, PluginParameters p, PluginContext c)
    {
        double threshold = p.GetDouble("affinityThreshold", 0.80);
        double exploration = p.GetDouble("explorationProbability", 0.01);
        double penalty = p.GetDouble("maxTTFTPenaltyMs", 5000);
        if (threshold > 1)
            throw new ConfigException($"affinityThreshold must be <= 1, got {threshold}");
        if (exploration is < 0 or > 1)
            throw new ConfigException($"explorationProbability must be in [0, 1], got {exploration}");
        if (penalty < 0)
            throw new ConfigException($"maxTTFTPenaltyMs must be >= 0, got {penalty}");
        return new PrefixCacheAffinityFilter(name, threshold, exploration, penalty, c.Random);
    }

    private static IPlugin CreateLatencyScorer(string name, PluginParameters p, PluginContext c)
    {
        p.GetDouble("ttftWeight", 0.8);
        p.GetDouble("tpotWeight", 0.2);
        string strategy = p.GetString("headroomSelectionStrategy", "least");
        if (strategy is not ("least" or "most"))
            throw new ConfigException($"invalid headroomSelectionStrategy '{strategy}', must be 'least' or 'most'");
        return new LatencyScorer(name, p.GetDouble("compositeKVWeight", 1), p.GetDouble("compositeQueueWeight", 1),
            p.GetDouble("compositePrefixWeight", 1));
    }

    private static IPlugin CreateUtilizationDetector(string name, PluginParameters p, PluginContext c)
    {
        int queue = p.GetInt("queueDepthThreshold", 5);
        double kv = p.GetDouble("kvCacheUtilThreshold", 0.8);
        TimeSpan staleness = p.GetDuration("metricsStalenessThreshold", TimeSpan.FromMilliseconds(200));
        double headroom = p.GetDouble("headroom", 0);
        if (queue <= 0)
            throw new ConfigException($"queueDepthThreshold must be > 0, got {queue}");
        if (kv is <= 0 or > 1)
            throw new ConfigException($"kvCacheUtilThreshold must be in (0, 1], got {kv}");
        if (staleness <= TimeSpan.Zero)
            throw new ConfigException($"metricsStalenessThreshold must be > 0, got {staleness}");
        if (headroom < 0)
            throw new ConfigException($"headroom must be >= 0, got {headroom}");
        return new UtilizationDetector(name, queue, kv, staleness, headroom, c.Time);
    }

    private static IPlugin CreateConcurrencyDetector(string name, PluginParameters p, PluginContext c)
    {
        long max = p.GetLong("maxConcurrency", 100);
        long maxTokens = p.GetLong("maxTokenConcurrency", 1_000_000);
        string mode = p.GetString("concurrencyMode", "requests");
        double headroom = p.GetDouble("headroom", 0);
        if (max <= 0)
            throw new ConfigException($"maxConcurrency must be > 0, got {max}");
        if (maxTokens <= 0)
            throw new ConfigException($"maxTokenConcurrency must be > 0, got {maxTokens}");
        if (mode is not ("requests" or "tokens"))
            throw new ConfigException($"concurrencyMode must be 'requests' or 'tokens', got '{mode}'");
        if (headroom < 0)
            throw new ConfigException($"headroom must be >= 0, got {headroom}");
        return new ConcurrencyDetector(name, max, maxTokens, mode == "tokens", headroom);
    }
}
