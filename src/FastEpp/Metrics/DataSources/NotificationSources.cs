using FastEpp.Configuration;

namespace FastEpp.Metrics.DataSources;

/// <summary>
/// <c>k8s-notification-source</c> and <c>endpoint-notification-source</c>: the reference's event sources for
/// extractors that follow Kubernetes objects or endpoint add/remove events. FastEpp registers no extractor that
/// consumes them yet, so a source is accepted (its parameters checked) and feeds nothing, as the reference's does
/// when no extractor is wired to it.
/// </summary>
internal sealed class NotificationSource : IDataSource
{
    public static readonly PluginType Kubernetes = new("k8s-notification-source", static (n, p, _) =>
    {
        if (!p.IsPresent)
            throw new ConfigException("k8s-notification-source requires parameters (group, version, kind)");
        if (p.GetString("version", "").Length == 0 || p.GetString("kind", "").Length == 0)
            throw new ConfigException("k8s-notification-source requires non-empty version and kind");
        p.GetString("group", "");
        return new NotificationSource("k8s-notification-source", n);
    });

    public static readonly PluginType Endpoint = new("endpoint-notification-source", static (n, _, _) =>
        new NotificationSource("endpoint-notification-source", n));

    private NotificationSource(string typeName, string name)
    {
        TypeName = typeName;
        Name = name;
    }

    public string TypeName { get; }

    public string Name { get; }
}
