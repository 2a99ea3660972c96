using FastEpp.Metrics;
using FastEpp.Metrics.DataSources;
using FastEpp.Parsers;
using FastEpp.Scheduling;

namespace FastEpp.Configuration;

/// <summary>
/// The result of loading an EndpointPickerConfig: the defaulted config, every instantiated plugin (in
/// declaration order, defaults appended), the feature gates and the resolved non-scheduling wiring the
/// host needs (saturation detector, parser, data layer, flow control). Immutable once built.
/// </summary>
internal sealed class LoadedConfig
{
    public required EndpointPickerConfig Config { get; init; }

    public required IReadOnlyList<IPlugin> Plugins { get; init; }

    public required IReadOnlyDictionary<string, IPlugin> PluginsByName { get; init; }

    public required IReadOnlySet<string> FeatureGates { get; init; }

    /// <summary>Gate <c>enableLegacyMetrics</c>: scrape with the deprecated flags; the dataLayer section is ignored.</summary>
    public bool LegacyMetrics => FeatureGates.Contains(ConfigLoader.GateEnableLegacyMetrics);

    /// <summary>Gate <c>flowControl</c>.</summary>
    public bool FlowControlEnabled => FeatureGates.Contains(ConfigLoader.GateFlowControl);

    public required ISaturationDetector SaturationDetector { get; init; }

    /// <summary>
    /// The configured parser (<c>openai-parser</c> by default): openai-parser, vllmgrpc-parser or passthrough-parser.
    /// </summary>
    public required IRequestParser? Parser { get; init; }

    /// <summary>The plugins of the ResponseHeader extension point, in declaration order.</summary>
    public Requests.IResponseHeadersPlugin[] ResponseHeadersPlugins
    {
        get
        {
            var list = new List<Requests.IResponseHeadersPlugin>();
            foreach (IPlugin p in Plugins)
                if (p is Requests.IResponseHeadersPlugin r)
                    list.Add(r);
            return list.ToArray();
        }
    }

    /// <summary>The request-attribute-reporter plugins, in declaration order.</summary>
    public Requests.RequestAttributeReporter[] Reporters
    {
        get
        {
            var list = new List<Requests.RequestAttributeReporter>();
            foreach (IPlugin p in Plugins)
                if (p is Requests.RequestAttributeReporter r)
                    list.Add(r);
            return list.ToArray();
        }
    }

    /// <summary>Data sources with their extractors, in config order (empty in legacy mode).</summary>
    public required IReadOnlyList<DataSourceBinding> DataSources { get; init; }

    /// <summary>The flowControl section (null when absent); validated only when the gate is on.</summary>
    public FlowControlSpec? FlowControl => Config.FlowControl;

    /// <summary>Settings of the first <c>metrics-data-source</c> wired in the data layer (null in legacy mode or when none).</summary>
    public MetricsSourceSettings? MetricsSource
    {
        get
        {
            foreach (DataSourceBinding b in DataSources)
                if (b.Source is MetricsDataSource metrics)
                    return metrics.Settings;
            return null;
        }
    }

    /// <summary>Engine configs of the first <c>core-metrics-extractor</c> wired to a source (built-ins when none).</summary>
    public EngineConfigs EngineConfigs
    {
        get
        {
            foreach (DataSourceBinding b in DataSources)
                foreach (IDataExtractor e in b.Extractors)
                    if (e is CoreMetricsExtractor core)
                        return core.Engines;
            return new EngineConfigs();
        }
    }

    /// <summary>True when a plugin of <paramref name="type"/> is instantiated (e.g. destination-endpoint-served-verifier).</summary>
    public bool HasPluginOfType(string type)
    {
        foreach (IPlugin p in Plugins)
            if (p.TypeName == type)
                return true;
        return false;
    }

    /// <summary>The prefix-cache indexes of the configured approx-prefix-cache producers (for the indexer gauges).</summary>
    public Prefix.PrefixIndex[] PrefixIndexes
    {
        get
        {
            var indexes = new List<Prefix.PrefixIndex>();
            foreach (IPlugin p in Plugins)
                if (p is Scheduling.Producers.ApproxPrefixCacheProducer prefix)
                    indexes.Add(prefix.Index);
            return [.. indexes];
        }
    }
}

/// <summary>One <c>dataLayer.sources</c> entry, resolved.</summary>
internal sealed record DataSourceBinding(IDataSource Source, IReadOnlyList<IDataExtractor> Extractors);
