namespace FastEpp.Configuration;

/// <summary>Builds one configured plugin: (name, parameters, context) → plugin; throws <see cref="ConfigException"/> on bad parameters.</summary>
internal delegate Scheduling.IPlugin PluginFactory(string name, PluginParameters parameters, PluginContext context);

/// <summary>
/// A plugin type as EndpointPickerConfig names it (kebab-case, case-sensitive as in the reference) and how the
/// loader builds one. Every plugin class declares its own as <c>public static readonly PluginType Type</c>, next to
/// its code and its parameter checks; <see cref="PluginRegistry"/> is the table of them.
/// </summary>
internal sealed record PluginType(string Name, PluginFactory Create);

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
