using FastEpp.Metrics.DataSources;
using FastEpp.Parsers;
using FastEpp.Scheduling;
using FastEpp.Admission.Detectors;
using FastEpp.Admission.Policies;
using FastEpp.Scheduling.Filters;
using FastEpp.Scheduling.Pickers;
using FastEpp.Scheduling.Producers;
using FastEpp.Scheduling.Profiles;
using FastEpp.Scheduling.Scorers;

namespace FastEpp.Configuration;

/// <summary>
/// The loading pipeline of spec scheduling.md §1.4, in the reference's order and with its texts:
/// obtain bytes (§1.1) → strict decode or the built-in default (§1.5) → static defaults → feature
/// gates → instantiate plugins → system defaults (profile, handler, picker, weights, flow-control
/// policies, parser, saturation detector, data layer) → deep validation → data layer / parser /
/// detector resolution → auto-created data producers. Throws <see cref="ConfigException"/>.
/// </summary>
internal static class ConfigLoader
{
    public const string GateDataLayer = "dataLayer";
    public const string GateEnableLegacyMetrics = "enableLegacyMetrics";
    public const string GateFlowControl = "flowControl";

    private static readonly string[] s_gates = [GateDataLayer, GateEnableLegacyMetrics, GateFlowControl];

    /// <summary>The built-in configuration used when no config text is given (spec §1.5).</summary>
    public const string DefaultConfigText = """
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        featureGates: []
        plugins:
        - type: queue-scorer
        - type: kv-cache-utilization-scorer
        - type: prefix-cache-scorer
        - type: metrics-data-source
        - type: core-metrics-extractor
        schedulingProfiles:
        - name: default
          plugins:
          - {pluginRef: queue-scorer, weight: 2}
          - {pluginRef: kv-cache-utilization-scorer, weight: 2}
          - {pluginRef: prefix-cache-scorer, weight: 3}
        dataLayer:
          sources:
          - pluginRef: metrics-data-source
            extractors: [{pluginRef: core-metrics-extractor}]
        """;

    /// <summary>
    /// §1.1: the config text from <c>--config-text</c> / <c>--config-file</c>. Both set → error; a read
    /// failure → <c>failed to load config from a file '&lt;path&gt;' - &lt;err&gt;</c>; neither → "" (default config).
    /// </summary>
    public static string ReadFlags(string? configText, string? configFile)
    {
        if (!string.IsNullOrEmpty(configText) && !string.IsNullOrEmpty(configFile))
            throw new ConfigException("both the \"configText\" and \"configFile\" flags can not be set at the same time");
        if (!string.IsNullOrEmpty(configText))
            return configText;
        if (string.IsNullOrEmpty(configFile))
            return "";
        try
        {
            return File.ReadAllText(configFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ConfigException($"failed to load config from a file '{configFile}' - {ex.Message}");
        }
    }

    /// <summary>Loads <paramref name="configText"/> (null/empty → the built-in default).</summary>
    public static LoadedConfig Load(string? configText, PluginContext? context = null)
    {
        context ??= PluginContext.Default;
        // 2. Bytes → config.
        EndpointPickerConfig config = ConfigDecoder.Decode(string.IsNullOrEmpty(configText) ? DefaultConfigText : configText);

        // 3. Static defaults.
        foreach (PluginSpec p in config.Plugins)
            if (p.Name.Length == 0)
                p.Name = p.Type;

        // 4–5. Feature gates.
        var gates = ValidateGates(config);

        // 6. Instantiate plugins in list order.
        var plugins = new List<IPlugin>();
        var byName = new Dictionary<string, IPlugin>(StringComparer.Ordinal);
        foreach (PluginSpec spec in config.Plugins)
        {
            if (spec.Type.Length == 0)
                throw new ConfigException($"plugin '{spec.Name}' is missing a type");
            if (byName.ContainsKey(spec.Name))
                throw new ConfigException($"duplicate plugin name '{spec.Name}'");
            if (!PluginRegistry.TryGet(spec.Type, out PluginType? type))
                throw new ConfigException($"plugin type '{spec.Type}' is not registered");
            IPlugin plugin;
            try
            {
                plugin = type!.Create(spec.Name, new PluginParameters(spec.Parameters), context);
            }
            catch (ConfigException ex)
            {
                throw new ConfigException($"failed to create plugin '{spec.Name}' (type: {spec.Type}): {ex.Message}");
            }
            plugins.Add(plugin);
            byName[spec.Name] = plugin;
        }

        IPlugin RegisterDefault(PluginType type)
        {
            IPlugin plugin = type.Create(type.Name, PluginParameters.None, context);
            plugins.Add(plugin);
            byName[type.Name] = plugin;
            config.Plugins.Add(new PluginSpec { Name = type.Name, Type = type.Name });
            return plugin;
        }

        // 7a. Scheduling defaults.
        if (config.SchedulingProfiles.Count == 0)
        {
            var profile = new ProfileSpec { Name = "default" };
            foreach (IPlugin p in plugins)
                if (p is IFilter or IScorer or IPicker)
                    profile.Plugins.Add(new ProfilePluginRef { PluginRef = p.Name });
            config.SchedulingProfiles.Add(profile);
        }
        if (config.SchedulingProfiles.Count == 1 && !plugins.Exists(p => p is IProfileHandler))
            RegisterDefault(SingleProfileHandler.Type);
        IPlugin defaultPicker = plugins.Find(p => p is IPicker) ?? RegisterDefault(MaxScorePicker.Type);
        foreach (ProfileSpec profile in config.SchedulingProfiles)
        {
            bool hasPicker = false;
            foreach (ProfilePluginRef r in profile.Plugins)
            {
                if (byName.TryGetValue(r.PluginRef, out IPlugin? p))
                {
                    if (p is IScorer && r.Weight is null)
                        r.Weight = 1.0;
                    hasPicker |= p is IPicker;
                }
            }
            if (!hasPicker)
                profile.Plugins.Add(new ProfilePluginRef { PluginRef = defaultPicker.Name });
        }

        // 7b. Flow-control policies (by name, always).
        foreach (PluginType type in (PluginType[])[FcfsOrderingPolicy.Type, GlobalStrictFairnessPolicy.Type, StaticUsageLimitPolicy.Type])
            if (!byName.ContainsKey(type.Name))
                RegisterDefault(type);

        // 7c. Parser.
        if (string.IsNullOrEmpty(config.ParserRef))
            config.ParserRef = OpenAiParser.Type.Name;
        if (!byName.ContainsKey(config.ParserRef) && !byName.ContainsKey(OpenAiParser.Type.Name))
            RegisterDefault(OpenAiParser.Type);

        // 7d. Saturation detector.
        if (string.IsNullOrEmpty(config.SaturationDetectorRef))
            config.SaturationDetectorRef = UtilizationDetector.Type.Name;
        if (config.SaturationDetectorRef == UtilizationDetector.Type.Name && !byName.ContainsKey(UtilizationDetector.Type.Name))
            RegisterDefault(UtilizationDetector.Type);

        // 7e. Data layer.
        bool legacy = gates.Contains(GateEnableLegacyMetrics);
        if (!legacy && config.DataLayer is null)
        {
            if (!byName.ContainsKey(MetricsDataSource.Type.Name))
                RegisterDefault(MetricsDataSource.Type);
            if (!byName.ContainsKey(CoreMetricsExtractor.Type.Name))
                RegisterDefault(CoreMetricsExtractor.Type);
            var source = new DataSourceSpec { PluginRef = MetricsDataSource.Type.Name };
            source.Extractors.Add(CoreMetricsExtractor.Type.Name);
            config.DataLayer = [source];
        }

        // 8. Deep validation.
        ValidateGates(config);
        var profileNames = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < config.SchedulingProfiles.Count; i++)
        {
            ProfileSpec profile = config.SchedulingProfiles[i];
            if (profile.Name.Length == 0)
                throw new ConfigException($"schedulingProfiles[{i}] is missing a name");
            if (!profileNames.Add(profile.Name))
                throw new ConfigException($"schedulingProfiles[{i}] has duplicate name '{profile.Name}'");
            foreach (ProfilePluginRef r in profile.Plugins)
            {
                if (r.PluginRef.Length == 0)
                    throw new ConfigException($"schedulingProfiles[{profile.Name}] has a plugin with an empty pluginRef");
                if (!byName.ContainsKey(r.PluginRef))
                    throw new ConfigException($"schedulingProfiles[{profile.Name}] references undefined plugin '{r.PluginRef}'");
            }
        }
        if (!byName.ContainsKey(config.SaturationDetectorRef))
            throw new ConfigException($"saturation detector plugin '{config.SaturationDetectorRef}' not found");

        // 10. Data layer.
        var sources = new List<DataSourceBinding>();
        if (!legacy)
        {
            foreach (DataSourceSpec s in config.DataLayer!)
            {
                if (!byName.TryGetValue(s.PluginRef, out IPlugin? sp) || sp is not IDataSource source)
                    throw new ConfigException($"the plugin {s.PluginRef} is not a fwkdl.DataSource");
                var extractors = new List<IDataExtractor>();
                foreach (string e in s.Extractors)
                {
                    // The reference's in-flight cleanup wiring (endpoint-notification-source → inflight-load-producer): in
                    // FastEpp the in-flight counts live on the endpoint and leave with it, so the binding has nothing to add.
                    if (sp.TypeName == NotificationSource.Endpoint.Name && byName.TryGetValue(e, out IPlugin? producer) && producer is InFlightLoadProducer)
                        continue;
                    if (!byName.TryGetValue(e, out IPlugin? ep) || ep is not IDataExtractor extractor)
                        throw new ConfigException($"the plugin {s.PluginRef} is not a fwkdl.Extractor");
                    extractors.Add(extractor);
                }
                sources.Add(new DataSourceBinding(source, extractors));
            }
            if (sources.Count == 0)
                throw new ConfigException("data layer enabled but no data sources configured");
        }

        // 11. Flow control, parser, saturation detector.
        if (gates.Contains(GateFlowControl) && config.FlowControl is { } flow)
            ValidateFlowControl(flow, byName);
        if (!byName.TryGetValue(config.ParserRef, out IPlugin? parserPlugin))
            throw new ConfigException("the configured parser is not loaded");
        if (parserPlugin is not IRequestParser)
            throw new ConfigException($"the configured parser '{config.ParserRef}' is not a parser plugin");
        if (byName[config.SaturationDetectorRef] is not ISaturationDetector detector)
            throw new ConfigException($"the plugin '{config.SaturationDetectorRef}' is not a saturation detector");

        // 13. Auto-create missing data producers (default producer per consumed key).
        bool consumesPrefix = plugins.Exists(p => p is PrefixCacheScorer or PrefixCacheAffinityFilter or LatencyScorer or PrefixHomeScorer);
        if (consumesPrefix && !plugins.Exists(p => p is ApproxPrefixCacheProducer or PrecisePrefixCacheProducer))
            RegisterDefault(ApproxPrefixCacheProducer.Type);
        ValidatePrefixProducers(plugins);
        bool consumesInFlight = plugins.Exists(p => p is TokenLoadScorer or ConcurrencyDetector);
        if (consumesInFlight && !plugins.Exists(p => p is InFlightLoadProducer))
            RegisterDefault(InFlightLoadProducer.Type);

        return new LoadedConfig
        {
            Config = config,
            Plugins = plugins,
            PluginsByName = byName,
            FeatureGates = gates,
            SaturationDetector = detector,
            Parser = parserPlugin as IRequestParser,
            DataSources = sources,
        };
    }

    /// <summary>
    /// Prefix-match info has one slot per request (RequestScratch), so one producer writes it: two prefix producers are
    /// refused, and a prefix-cache-scorer's <c>prefixMatchInfoProducerName</c> must name the configured one.
    /// </summary>
    private static void ValidatePrefixProducers(List<IPlugin> plugins)
    {
        IPlugin? producer = null;
        foreach (IPlugin p in plugins)
        {
            if (p is not (ApproxPrefixCacheProducer or PrecisePrefixCacheProducer))
                continue;
            if (producer is not null)
                throw new ConfigException($"prefix-match producers '{producer.Name}' and '{p.Name}' are both configured; FastEpp supports one per configuration (the precise producer falls back to its own approximate index)");
            producer = p;
        }
        // llm-d's token-producer feeds the precise producer only.
        foreach (IPlugin p in plugins)
        {
            if (p is not TokenProducer tokens)
                continue;
            if (producer is not PrecisePrefixCacheProducer precise)
                throw new ConfigException($"{tokens.TypeName} '{tokens.Name}' needs a precise-prefix-cache-producer to feed (it would do nothing)");
            if (precise.TokenSource is { } other)
                throw new ConfigException($"two token producers ('{other.Name}', '{tokens.Name}') are configured");
            precise.TokenSource = tokens;
        }
        foreach (IPlugin p in plugins)
        {
            if (p is PrefixCacheScorer { ProducerName.Length: > 0 } scorer && scorer.ProducerName != producer?.Name)
                throw new ConfigException($"prefix-cache-scorer '{scorer.Name}': prefixMatchInfoProducerName '{scorer.ProducerName}' does not name a configured prefix-match producer" +
                    (producer is null ? "" : $" (the configured one is '{producer.Name}')"));
        }
    }

    private static HashSet<string> ValidateGates(EndpointPickerConfig config)
    {
        var gates = new HashSet<string>(StringComparer.Ordinal);
        foreach (string g in config.FeatureGates)
        {
            if (Array.IndexOf(s_gates, g) < 0)
                throw new ConfigException($"feature gate '{g}' is unknown or unregistered");
            gates.Add(g);
        }
        return gates;
    }

    private static void ValidateFlowControl(FlowControlSpec flow, Dictionary<string, IPlugin> byName)
    {
        if (flow.MaxBytes < 0 || flow.MaxRequests < 0)
            throw new ConfigException("flowControl: maxBytes and maxRequests must not be negative");
        if (flow.DefaultRequestTtl < TimeSpan.Zero)
            throw new ConfigException("flowControl: defaultRequestTTL must not be negative");
        string usage = flow.UsageLimitPolicyPluginRef.Length == 0 ? StaticUsageLimitPolicy.Type.Name : flow.UsageLimitPolicyPluginRef;
        CheckPolicy<IUsageLimitPolicy>(byName, usage, "usage limit policy");
        var priorities = new HashSet<int>();
        var bands = new List<PriorityBandSpec>(flow.PriorityBands);
        if (flow.DefaultPriorityBand is { } d)
            bands.Add(d);
        foreach (PriorityBandSpec band in flow.PriorityBands)
            if (!priorities.Add(band.Priority))
                throw new ConfigException($"flowControl: duplicate priority band {band.Priority}");
        foreach (PriorityBandSpec band in bands)
        {
            if (band.MaxBytes < 0 || band.MaxRequests < 0)
                throw new ConfigException($"flowControl: priority band {band.Priority}: maxBytes and maxRequests must not be negative");
            CheckPolicy<IFairnessPolicy>(byName, band.FairnessPolicyRef.Length == 0 ? GlobalStrictFairnessPolicy.Type.Name : band.FairnessPolicyRef,
                "fairness policy");
            CheckPolicy<IOrderingPolicy>(byName, band.OrderingPolicyRef.Length == 0 ? FcfsOrderingPolicy.Type.Name : band.OrderingPolicyRef,
                "ordering policy");
        }
    }

    private static void CheckPolicy<TPolicy>(Dictionary<string, IPlugin> byName, string name, string what) where TPolicy : IPlugin
    {
        if (!byName.TryGetValue(name, out IPlugin? p))
            throw new ConfigException($"flowControl: {what} plugin '{name}' not found");
        if (p is not TPolicy)
            throw new ConfigException($"flowControl: plugin '{name}' is not a {what}");
    }
}
