using FastEpp.Configuration;

namespace FastEpp.Metrics.DataSources;

/// <summary>
/// <c>metrics-data-source</c>: each endpoint's Prometheus /metrics, scraped by the <see cref="MetricsPoller"/>.
/// Its parameters (scheme, path, insecureSkipVerify) win over the deprecated --model-server-metrics-* flags when
/// given explicitly, hence the *Set flags.
/// </summary>
internal sealed class MetricsDataSource : IDataSource
{
    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("metrics-data-source", Create);

    private MetricsDataSource(string name, MetricsSourceSettings settings)
    {
        Name = name;
        Settings = settings;
    }

    public string TypeName => Type.Name;

    public string Name { get; }

    public MetricsSourceSettings Settings { get; }

    private static MetricsDataSource Create(string name, PluginParameters p, PluginContext c)
    {
        string scheme = p.GetString("scheme", "http");
        if (scheme is not ("http" or "https"))
            throw new ConfigException($"unsupported scheme: {scheme}");
        return new MetricsDataSource(name, new MetricsSourceSettings(scheme, p.GetString("path", "/metrics"), p.GetBool("insecureSkipVerify", true),
            p.Get("scheme") is not null, p.Get("path") is not null, p.Get("insecureSkipVerify") is not null));
    }
}

/// <summary>Settings of a <c>metrics-data-source</c>; the *Set flags say which were given explicitly (they win over deprecated flags).</summary>
internal sealed record MetricsSourceSettings(string Scheme, string Path, bool InsecureSkipVerify, bool SchemeSet, bool PathSet, bool InsecureSkipVerifySet);
