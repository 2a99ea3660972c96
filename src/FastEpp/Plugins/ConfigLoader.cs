using FastEpp.Scheduling;

namespace FastEpp.Plugins;

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
            if (!PluginRegistry.TryGet(spec.Type, out PluginFactory? factory))
                throw new ConfigException($"plugin type '{spec.Type}' is not registered");
            IPlugin plugin;
            try
            {
                plugin = factory!(spec.Name, new PluginParameters(spec.Parameters), context);
            }
            catch (ConfigException ex)
            {
                throw new ConfigException($"failed to create plugin '{spec.Name}' (type: {spec.Type}): {ex.Message}");
            }
            plugins.Add(plugin);
            byName[spec.Name] = plugin;
        }

        IPlugin RegisterDefault(string type)
        {
            PluginRegistry.TryGet(type, out PluginFactory? factory);
            IPlugin plugin = factory!(type, PluginParameters.None, context);
            plugins.Add(plugin);
            byName[type] = plugin;
            config.Plugins.Add(new PluginSpec { Name = type, Type = type });
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
            RegisterDefault(PluginTypes.SingleProfileHandler);
        IPlugin defaultPicker = plugins.Find(p => p is IPicker) ?? RegisterDefault(PluginTypes.MaxScorePicker);
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
        foreach (string type in (string[])[PluginTypes.FcfsOrderingPolicy, PluginTypes.GlobalStrictFairnessPolicy, PluginTypes.StaticUsageLimitPolicy])
            if (!byName.ContainsKey(type))
                RegisterDefault(type);

        // 7c. Parser.
        config.ParserRef ??= PluginTypes.OpenAiParser;
        if (config.ParserRef.Length == 0)
            config.ParserRef = PluginTypes.OpenAiParser;
        if (!byName.ContainsKey(config.ParserRef) && !byName.ContainsKey(PluginTypes.OpenAiParser))
            RegisterDefault(PluginTypes.OpenAiParser);

        // 7d. Saturation detector.
        if (string.IsNullOrEmpty(config.SaturationDetectorRef))
            config.SaturationDetectorRef = PluginTypes.UtilizationDetector;
        if (config.SaturationDetectorRef == PluginTypes.UtilizationDetector && !byName.ContainsKey(PluginTypes.UtilizationDetector))
            RegisterDefault(PluginTypes.UtilizationDetector);

        // 7e. Data layer.
        bool legacy = gates.Contains(GateEnableLegacyMetrics);
        if (!legacy && config.DataLayer is null)
        {
            if (!byName.ContainsKey(PluginTypes.MetricsDataSource))
                RegisterDefault(PluginTypes.MetricsDataSource);
            if (!byName.ContainsKey(PluginTypes.CoreMetricsExtractor))
                RegisterDefault(PluginTypes.CoreMetricsExtractor);
            var source = new DataSourceSpec { PluginRef = PluginTypes.MetricsDataSource };
            source.Extractors.Add(PluginTypes.CoreMetricsExtractor);
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
                if (!byName.TryGetValue(s.PluginRef, out IPlugin? sp) || sp is not ComponentPlugin { Kind: ComponentKind.DataSource } source)
                    throw new ConfigException($"the plugin {s.PluginRef} is not a fwkdl.DataSource");
                var extractors = new List<ComponentPlugin>();
                foreach (string e in s.Extractors)
                {
                    if (!byName.TryGetValue(e, out IPlugin? ep) || ep is not ComponentPlugin { Kind: ComponentKind.Extractor } extractor)
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
        if (parserPlugin is not ComponentPlugin { Kind: ComponentKind.Parser } parser)
            throw new ConfigException($"the configured parser '{config.ParserRef}' is not a parser plugin");
        if (byName[config.SaturationDetectorRef] is not ISaturationDetector detector)
            throw new ConfigException($"the plugin '{config.SaturationDetectorRef}' is not a saturation detector");

        // 13. Auto-create missing data producers (default producer per consumed key).
        bool consumesPrefix = plugins.Exists(p => p is Scheduling.Scorers.PrefixCacheScorer or Scheduling.Filters.PrefixCacheAffinityFilter or Scheduling.Scorers.LatencyScorer);
        if (consumesPrefix && !plugins.Exists(p => p.TypeName == PluginTypes.ApproxPrefixCacheProducer))
            RegisterDefault(PluginTypes.ApproxPrefixCacheProducer);
        bool consumesInFlight = plugins.Exists(p => p is Scheduling.Scorers.TokenLoadScorer or Admission.Detectors.ConcurrencyDetector);
        if (consumesInFlight && !plugins.Exists(p => p.TypeName == PluginTypes.InFlightLoadProducer))
            RegisterDefault(PluginTypes.InFlightLoadProducer);

        return new LoadedConfig
        {
            Config = config,
            Plugins = plugins,
            PluginsByName = byName,
            FeatureGates = gates,
            SaturationDetector = detector,
            Parser = parser,
            DataSources = sources,
        };
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
        string usage = flow.UsageLimitPolicyPluginRef.Length == 0 ? PluginTypes.StaticUsageLimitPolicy : flow.UsageLimitPolicyPluginRef;
        CheckPolicy(byName, usage, ComponentKind.UsageLimitPolicy, "usage limit policy");
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
            CheckPolicy(byName, band.FairnessPolicyRef.Length == 0 ? PluginTypes.GlobalStrictFairnessPolicy : band.FairnessPolicyRef,
                ComponentKind.FairnessPolicy, "fairness policy");
            CheckPolicy(byName, band.OrderingPolicyRef.Length == 0 ? PluginTypes.FcfsOrderingPolicy : band.OrderingPolicyRef,
                ComponentKind.OrderingPolicy, "ordering policy");
        }
    }

    private static void CheckPolicy(Dictionary<string, IPlugin> byName, string name, ComponentKind kind, string what)
    {
        if (!byName.TryGetValue(name, out IPlugin? p))
            throw new ConfigException($"flowControl: {what} plugin '{name}' not found");
        if (p is not ComponentPlugin c || c.Kind != kind)
            throw new ConfigException($"flowControl: plugin '{name}' is not a {what}");
    }
}
