using System.Collections.Frozen;
using FastEpp.Admission.Detectors;
using FastEpp.Admission.Policies;
using FastEpp.Metrics.DataSources;
using FastEpp.Parsers;
using FastEpp.Scheduling.Filters;
using FastEpp.Scheduling.Pickers;
using FastEpp.Scheduling.Producers;
using FastEpp.Scheduling.Profiles;
using FastEpp.Scheduling.Scorers;

namespace FastEpp.Configuration;

/// <summary>
/// The explicit, compiled-in table of plugin types (spec scheduling.md §2.11), frozen at start-up: no reflection,
/// no assembly scanning. Each row is declared by the plugin's own class; adding a plugin is its file plus one row.
/// Lookup is Ordinal (the reference registry is case-sensitive).
/// </summary>
internal static class PluginRegistry
{
    /// <summary>Every type, in the order of spec §2.11, then FastEpp's own types.</summary>
    public static readonly PluginType[] All =
    [
        PrefixCacheScorer.Type, MaxScorePicker.Type, RandomPicker.Type, WeightedRandomPicker.Type, SingleProfileHandler.Type,
        KvCacheUtilizationScorer.Type, QueueScorer.Type, RunningRequestsSizeScorer.Type, LoraAffinityScorer.Type, TokenLoadScorer.Type,
        GlobalStrictFairnessPolicy.Type, RoundRobinFairnessPolicy.Type, FcfsOrderingPolicy.Type,
        EdfOrderingPolicy.Type, SloDeadlineOrderingPolicy.Type, StaticUsageLimitPolicy.Type,
        ApproxPrefixCacheProducer.Type, InFlightLoadProducer.Type, UnsupportedPlugin.PredictedLatencyProducer,
        UnsupportedPlugin.LatencySloAdmitter, PrefixCacheAffinityFilter.Type, UnsupportedPlugin.SloHeadroomTierFilter,
        LatencyScorer.Type, HeaderBasedTestingFilter.Type, Requests.DestinationEndpointServedVerifier.Type,
        MetricsDataSource.Type, CoreMetricsExtractor.Type, NotificationSource.Kubernetes, NotificationSource.Endpoint,
        Requests.RequestAttributeReporter.Type, OpenAiParser.Type, VllmGrpcParser.Type,
        PassthroughParser.Type, ConcurrencyDetector.Type, UtilizationDetector.Type,
        WaitScorer.Type, PrefixHomeScorer.Type, // FastEpp's own (not in the reference)
        PrecisePrefixCacheProducer.Type, TokenProducer.Type, TokenProducer.Alias, // llm-d's (routing.md §3)
    ];

    private static readonly FrozenDictionary<string, PluginType> s_byName = All.ToFrozenDictionary(static t => t.Name, StringComparer.Ordinal);

    public static bool IsRegistered(string type) => s_byName.ContainsKey(type);

    public static IEnumerable<string> RegisteredTypes => s_byName.Keys;

    public static bool TryGet(string type, out PluginType? pluginType) => s_byName.TryGetValue(type, out pluginType);
}
