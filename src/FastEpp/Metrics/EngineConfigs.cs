namespace FastEpp.Metrics;

/// <summary>
/// The <c>core-metrics-extractor</c> parameters (scheduling.md §4.3): user engine entries, the
/// default engine and the pod label that selects an engine. A plain options type for the
/// configuration loader; <see cref="TryBuild"/> validates it and produces the immutable
/// <see cref="EngineSelector"/> the poller uses.
/// </summary>
internal sealed class EngineConfigs
{
    public const string DefaultEngineLabelKey = "inference.networking.k8s.io/engine-type";
    /// <summary>Reserved name: the mapping used when the pod label is missing, empty or unknown.</summary>
    public const string ReservedDefaultName = "default";

    public string EngineLabelKey { get; set; } = DefaultEngineLabelKey;
    public string DefaultEngine { get; set; } = EngineConfig.VllmName;
    /// <summary>User entries; each fully replaces the built-in entry of the same name (no field merge).</summary>
    public List<EngineConfig> Engines { get; set; } = [];

    /// <summary>
    /// Validates the entries (non-empty unique names, not <c>default</c>, parseable specs, a
    /// <see cref="DefaultEngine"/> that names an entry), appends the built-ins the user did not
    /// replace, and compiles every entry. All problems are collected in <paramref name="errors"/>.
    /// </summary>
    public bool TryBuild(out EngineSelector? selector, out List<string> errors)
    {
        errors = [];
        selector = null;
        var plans = new Dictionary<string, ScrapePlan>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Engines.Count; i++)
        {
            var cfg = Engines[i];
            if (cfg is null)
            {
                errors.Add($"engineConfigs[{i}]: entry is null");
                continue;
            }
            if (string.IsNullOrEmpty(cfg.Name))
            {
                errors.Add($"engineConfigs[{i}]: name must not be empty");
                continue;
            }
            if (cfg.Name == ReservedDefaultName)
            {
                errors.Add($"engineConfigs[{i}]: name \"{ReservedDefaultName}\" is reserved");
                continue;
            }
            if (!names.Add(cfg.Name))
            {
                errors.Add($"engineConfigs[{i}]: duplicate engine name \"{cfg.Name}\"");
                continue;
            }
            if (ScrapePlan.TryCreate(cfg, out var plan, out var planErrors))
                plans[cfg.Name] = plan!;
            else
                foreach (var e in planErrors)
                    errors.Add($"engineConfigs[{i}] ({cfg.Name}): {e}");
        }
        foreach (var builtIn in EngineConfig.BuiltIns())
        {
            if (names.Add(builtIn.Name) && ScrapePlan.TryCreate(builtIn, out var plan, out _))
                plans[builtIn.Name] = plan!;
        }

        string labelKey = string.IsNullOrEmpty(EngineLabelKey) ? DefaultEngineLabelKey : EngineLabelKey;
        string defaultName = string.IsNullOrEmpty(DefaultEngine) ? EngineConfig.VllmName : DefaultEngine;
        if (!plans.TryGetValue(defaultName, out var defaultPlan) && !names.Contains(defaultName))
            errors.Add($"defaultEngine \"{defaultName}\" does not name an engine config");
        if (errors.Count > 0 || defaultPlan is null)
            return false;
        selector = new EngineSelector(labelKey, defaultPlan, plans);
        return true;
    }

    /// <summary>The configuration used when no extractor parameters are given (vLLM by default).</summary>
    public static EngineSelector CreateDefaultSelector()
    {
        if (!new EngineConfigs().TryBuild(out var selector, out var errors))
            throw new InvalidOperationException("built-in engine configs are invalid: " + string.Join("; ", errors));
        return selector!;
    }
}

/// <summary>
/// Immutable engine lookup: picks the <see cref="ScrapePlan"/> of an endpoint from its pod label
/// (missing, empty or unknown value → the default engine).
/// </summary>
internal sealed class EngineSelector
{
    private readonly Dictionary<string, ScrapePlan> _plans;

    public EngineSelector(string engineLabelKey, ScrapePlan defaultPlan, Dictionary<string, ScrapePlan> plans)
    {
        EngineLabelKey = engineLabelKey;
        Default = defaultPlan;
        _plans = plans;
    }

    public string EngineLabelKey { get; }
    public ScrapePlan Default { get; }
    public IReadOnlyDictionary<string, ScrapePlan> Plans => _plans;

    public ScrapePlan Select(IReadOnlyDictionary<string, string> podLabels) =>
        podLabels.TryGetValue(EngineLabelKey, out var engine) && !string.IsNullOrEmpty(engine)
            && _plans.TryGetValue(engine, out var plan)
            ? plan
            : Default;
}
