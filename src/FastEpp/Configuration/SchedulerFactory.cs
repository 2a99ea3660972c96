using FastEpp.Scheduling;

namespace FastEpp.Configuration;

/// <summary>
/// Builds the <see cref="ConfiguredScheduler"/> from an EndpointPickerConfig (spec §1.4 step 9 and 12).
/// Start-up only; every failure is a <see cref="ConfigException"/> whose message is the reference's text.
/// </summary>
internal static class SchedulerFactory
{
    /// <summary>From the <c>--config-text</c> / <c>--config-file</c> flag values (both empty → built-in default).</summary>
    public static ConfiguredScheduler CreateFromFlags(string? configText, string? configFile, PluginContext? context = null) =>
        Create(ConfigLoader.ReadFlags(configText, configFile), context);

    /// <summary>From config text (null/empty → built-in default config).</summary>
    public static ConfiguredScheduler Create(string? configText, PluginContext? context = null)
    {
        ConfiguredScheduler scheduler = Build(ConfigLoader.Load(configText, context));
        if (context?.Metrics is { } metrics)
            scheduler.EnableTimings(metrics);
        return scheduler;
    }

    public static ConfiguredScheduler Build(LoadedConfig loaded)
    {
        foreach (IPlugin p in loaded.Plugins)
        {
            if (p is UnsupportedPlugin u)
                throw new ConfigException($"plugin '{u.Name}' (type: {u.TypeName}) cannot be used with FastEpp: {u.Reason}");
        }

        var profiles = new List<SchedulerProfile>();
        foreach (ProfileSpec spec in loaded.Config.SchedulingProfiles)
        {
            var filters = new List<IFilter>();
            var scorers = new List<WeightedScorer>();
            IPicker? picker = null;
            foreach (ProfilePluginRef r in spec.Plugins)
            {
                IPlugin plugin = loaded.PluginsByName[r.PluginRef];
                if (plugin is IFilter f && !filters.Contains(f))
                    filters.Add(f);
                if (plugin is IScorer s)
                    scorers.Add(new WeightedScorer(s, r.Weight ?? 1.0));
                if (plugin is IPicker pk)
                {
                    if (picker is not null)
                        throw new ConfigException("already have a registered picker plugin");
                    picker = pk;
                }
            }
            profiles.Add(new SchedulerProfile(spec.Name, [.. filters], [.. scorers], picker!));
        }

        IProfileHandler? handler = null;
        foreach (IPlugin p in loaded.Plugins)
        {
            if (p is IProfileHandler h)
            {
                if (handler is not null)
                    throw new ConfigException("multiple profile handlers found");
                handler = h;
            }
        }
        if (handler is null)
            throw new ConfigException("no profile handler configured");
        if (handler.Validate(profiles) is { } error)
            throw new ConfigException(error);

        // Request-control plugins are active when declared, referenced by a profile or not (§1.4 step 12).
        var producers = new List<IDataProducer>();
        var preRequest = new List<IPreRequest>();
        var complete = new List<IResponseComplete>();
        foreach (IPlugin p in loaded.Plugins)
        {
            if (p is IDataProducer dp) producers.Add(dp);
            if (p is IPreRequest pr) preRequest.Add(pr);
            if (p is IResponseComplete rc) complete.Add(rc);
        }
        return new ConfiguredScheduler([.. profiles], handler, [.. producers], [.. preRequest], [.. complete], loaded);
    }
}
