using FastEpp.Configuration;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Metrics.DataSources;

/// <summary>
/// <c>core-metrics-extractor</c>: which metric families mean queue, running, KV usage, LoRA and cache info, per
/// engine (spec scheduling.md §4.3). Its validated <see cref="EngineConfigs"/> select the poller's scrape plans.
/// </summary>
internal sealed class CoreMetricsExtractor : IDataExtractor
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("core-metrics-extractor", Create);

    private CoreMetricsExtractor(string name, EngineConfigs engines)
    {
        Name = name;
        Engines = engines;
    }

    public string TypeName => Type.Name;

    public string Name { get; }

    public EngineConfigs Engines { get; }

    private static CoreMetricsExtractor Create(string name, PluginParameters p, PluginContext c)
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
        return new CoreMetricsExtractor(name, configs);
    }
}
