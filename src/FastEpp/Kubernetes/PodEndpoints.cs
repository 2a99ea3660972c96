using System.Globalization;
using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;

namespace FastEpp.Kubernetes;

/// <summary>
/// Pure endpoint construction from a pool and pods (spec runtime.md §2.3): ready pods only
/// (no deletionTimestamp, first <c>Ready</c> condition <c>True</c>), one endpoint per active
/// target port named <c>&lt;ns&gt;/&lt;pod&gt;-rank-&lt;i&gt;</c> (i = index in targetPorts).
/// </summary>
internal static class PodEndpoints
{
    public const string ActivePortsAnnotation = "inference.networking.k8s.io/active-ports";

    /// <summary>Appends the endpoints of every usable pod to <paramref name="into"/>, sorted by name.</summary>
    /// <param name="podsWithoutIp">Receives the names of ready, matching pods that have no IP yet (skipped).</param>
    public static void Build(EndpointPool pool, IEnumerable<Pod> pods, int metricsPortOverride, List<Endpoint> into, List<string>? podsWithoutIp)
    {
        // Reference rule: the metrics-port flag only applies to single-port pools.
        bool overrideMetrics = metricsPortOverride != 0 && pool.TargetPorts.Length == 1;
        int start = into.Count;
        foreach (var pod in pods)
        {
            if (!LabelSelector.Matches(pool.Selector, pod.Metadata.Labels) || !IsReady(pod))
                continue;
            string? ip = pod.Status?.PodIP;
            if (string.IsNullOrEmpty(ip))
            {
                podsWithoutIp?.Add(pod.Metadata.Name);
                continue;
            }
            HashSet<int>? active = ActivePorts(pod);
            string ns = pod.Metadata.Namespace ?? pool.Namespace;
            IReadOnlyDictionary<string, string> labels = pod.Metadata.Labels ?? (IReadOnlyDictionary<string, string>)EmptyLabels;
            for (int i = 0; i < pool.TargetPorts.Length; i++)
            {
                int port = pool.TargetPorts[i];
                if (active is not null && !active.Contains(port))
                    continue;
                string name = string.Create(CultureInfo.InvariantCulture, $"{ns}/{pod.Metadata.Name}-rank-{i}");
                into.Add(new Endpoint(name, pod.Metadata.Name, ip, port, overrideMetrics ? metricsPortOverride : port, labels));
            }
        }
        into.Sort(start, into.Count - start, EndpointNameComparer.Instance);
    }

    /// <summary>Ready = not being deleted and the first Ready condition has status True.</summary>
    public static bool IsReady(Pod pod)
    {
        if (pod.Metadata.DeletionTimestamp is not null)
            return false;
        if (pod.Status?.Conditions is { } conditions)
        {
            foreach (var c in conditions)
                if (c?.Type == "Ready") // a null entry (JSON null) is no condition
                    return c.Status == "True";
        }
        return false;
    }

    /// <summary>
    /// Ports listed in the active-ports annotation (entries that are not a positive integer are
    /// ignored); null when the annotation is absent, meaning all target ports are active.
    /// Ports not in targetPorts simply never match.
    /// </summary>
    public static HashSet<int>? ActivePorts(Pod pod)
    {
        if (pod.Metadata.Annotations is null || !pod.Metadata.Annotations.TryGetValue(ActivePortsAnnotation, out var text))
            return null;
        var ports = new HashSet<int>();
        foreach (var part in (text ?? "").Split(',')) // JSON null = Go zero value ""
        {
            // Go's Sscanf("%d") reads a leading integer and ignores what follows.
            ReadOnlySpan<char> s = part.AsSpan().Trim();
            int len = 0;
            if (len < s.Length && (s[len] == '+' || s[len] == '-'))
                len++;
            while (len < s.Length && char.IsAsciiDigit(s[len]))
                len++;
            if (int.TryParse(s[..len], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int port) && port > 0)
                ports.Add(port);
        }
        return ports;
    }

    /// <summary>True when both lists describe the same endpoints (name, address, ports, labels), in order.</summary>
    public static bool SameEndpoints(IReadOnlyList<Endpoint> a, IReadOnlyList<Endpoint> b)
    {
        if (a.Count != b.Count)
            return false;
        for (int i = 0; i < a.Count; i++)
        {
            Endpoint x = a[i], y = b[i];
            if (x.Name != y.Name || x.Address != y.Address || x.Port != y.Port || x.MetricsPort != y.MetricsPort
                || !ReferenceEquals(x.Labels, y.Labels) && !LabelSelector.AreEqual(x.Labels, y.Labels))
                return false;
        }
        return true;
    }

    private static readonly Dictionary<string, string> EmptyLabels = new(StringComparer.Ordinal);

    private sealed class EndpointNameComparer : IComparer<Endpoint>
    {
        public static readonly EndpointNameComparer Instance = new();

        public int Compare(Endpoint? x, Endpoint? y) => string.CompareOrdinal(x?.Name, y?.Name);
    }
}
