using FastEpp.Metrics;
using FastEpp.Scheduling;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Plugins;

/// <summary>What a non-scheduling plugin is, for the loader's type checks and for the host's wiring.</summary>
internal enum ComponentKind
{
    Parser,
    DataSource,
    Extractor,
    OrderingPolicy,
    FairnessPolicy,
    UsageLimitPolicy,
    ResponseHeader,
    /// <summary>Needs an external predictor or CEL: loads, but the scheduler refuses to start with it.</summary>
    Unsupported,
}

/// <summary>
/// A configured plugin whose behaviour lives outside the scheduler (parsers, data sources and extractors,
/// flow-control policies, the conformance verifier) or that FastEpp cannot run. It keeps its validated
/// parameters so the host can wire the component (e.g. <see cref="EngineConfigs"/> for the metrics poller).
/// </summary>
internal sealed class ComponentPlugin : IPlugin
{
    public ComponentPlugin(string typeName, string name, ComponentKind kind, PluginParameters parameters, string? unsupportedReason = null)
    {
        TypeName = typeName;
        Name = name;
        Kind = kind;
        Parameters = parameters;
        UnsupportedReason = unsupportedReason;
    }

    public string TypeName { get; }

    public string Name { get; }

    public ComponentKind Kind { get; }

    public PluginParameters Parameters { get; }

    /// <summary>Why FastEpp cannot run this plugin (only for <see cref="ComponentKind.Unsupported"/>).</summary>
    public string? UnsupportedReason { get; }

    /// <summary><c>metrics-data-source</c>: scheme (http|https), path, insecureSkipVerify.</summary>
    public MetricsSourceSettings? MetricsSource { get; init; }

    /// <summary><c>core-metrics-extractor</c>: the engine configs (validated).</summary>
    public EngineConfigs? Engines { get; init; }

    /// <summary><c>static-usage-limit-policy</c>: threshold.</summary>
    public double UsageLimitThreshold { get; init; } = 1.0;

    internal static ComponentPlugin MetricsDataSource(string name, PluginParameters p)
    {
        string scheme = p.GetString("scheme", "http");
        if (scheme is not ("http" or "https"))
            throw new ConfigException($"unsupported scheme: {scheme}");
        return new ComponentPlugin(PluginTypes.MetricsDataSource, name, ComponentKind.DataSource, p)
        {
            MetricsSource = new MetricsSourceSettings(scheme, p.GetString("path", "/metrics"), p.GetBool("insecureSkipVerify", true),
                p.Get("scheme") is not null, p.Get("path") is not null, p.Get("insecureSkipVerify") is not null),
        };
    }

    internal static ComponentPlugin CoreMetricsExtractor(string name, PluginParameters p)
    {
        var configs = new EngineConfigs
        {
            EngineLabelKey = p.GetString("engineLabelKey", EngineConfigs.DefaultEngineLabelKey),
            DefaultEngine = p.GetString("defaultEngine", EngineConfig.VllmName),
        };
        if (p.Get("engineConfigs") is { } list)
        {
            if (list is not YamlSequenceNode seq)
                throw new ConfigException($"json: cannot unmarshal {YamlValues.JsonKind(list)} into Go struct field .engineConfigs of type []EngineConfig");
            foreach (YamlNode item in seq)
            {
                if (item is not YamlMappingNode map)
                    throw new ConfigException($"json: cannot unmarshal {YamlValues.JsonKind(item)} into Go struct field .engineConfigs of type EngineConfig");
                var e = new PluginParameters(map);
                configs.Engines.Add(new EngineConfig
                {
                    Name = e.GetString("name", ""),
                    QueuedRequestsSpec = e.GetString("queuedRequestsSpec", ""),
                    RunningRequestsSpec = e.GetString("runningRequestsSpec", ""),
                    KvUsageSpec = e.GetString("kvUsageSpec", ""),
                    LoraSpec = e.GetString("loraSpec", ""),
                    CacheInfoSpec = e.GetString("cacheInfoSpec", ""),
                    CacheBlockSizeLabelName = e.GetString("cacheBlockSizeLabelName", ""),
                    CacheNumBlocksLabelName = e.GetString("cacheNumBlocksLabelName", ""),
                    CacheBlockSizeSpec = e.GetString("cacheBlockSizeSpec", ""),
                    CacheNumBlocksSpec = e.GetString("cacheNumBlocksSpec", ""),
                });
            }
        }
        if (!configs.TryBuild(out _, out List<string> errors))
            throw new ConfigException(string.Join("; ", errors));
        return new ComponentPlugin(PluginTypes.CoreMetricsExtractor, name, ComponentKind.Extractor, p) { Engines = configs };
    }

    internal static ComponentPlugin K8sNotificationSource(string name, PluginParameters p)
    {
        if (!p.IsPresent)
            throw new ConfigException("k8s-notification-source requires parameters (group, version, kind)");
        if (p.GetString("version", "").Length == 0 || p.GetString("kind", "").Length == 0)
            throw new ConfigException("k8s-notification-source requires non-empty version and kind");
        p.GetString("group", "");
        return new ComponentPlugin(PluginTypes.K8sNotificationSource, name, ComponentKind.DataSource, p);
    }

    internal static ComponentPlugin StaticUsageLimitPolicy(string name, PluginParameters p) =>
        new(PluginTypes.StaticUsageLimitPolicy, name, ComponentKind.UsageLimitPolicy, p)
        {
            UsageLimitThreshold = p.GetDouble("threshold", 1.0),
        };
}

/// <summary>Settings of a <c>metrics-data-source</c>; the *Set flags say which were given explicitly (they win over deprecated flags).</summary>
internal sealed record MetricsSourceSettings(string Scheme, string Path, bool InsecureSkipVerify, bool SchemeSet, bool PathSet, bool InsecureSkipVerifySet);
