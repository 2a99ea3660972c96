using System.Text.RegularExpressions;

namespace FastEpp.Kubernetes;

/// <summary>
/// Kubernetes-related settings, bound from the reference's flags by Hosting (spec runtime.md §1.2):
/// <c>--pool-name</c>, <c>--pool-namespace</c>, <c>--pool-group</c>, <c>--endpoint-selector</c>,
/// <c>--endpoint-target-ports</c>, <c>--ha-enable-leader-election</c>, <c>--model-server-metrics-port</c>.
/// </summary>
internal sealed partial class KubernetesOptions
{
    public const string DefaultPoolGroup = "inference.networking.k8s.io";
    public const string LeaseNameSuffix = ".gateway-api-inference-extension.sigs.k8s.io";

    public string PoolName { get; set; } = "";
    /// <summary>Flag value; empty → env NAMESPACE → <c>default</c> (see <see cref="ResolveNamespace"/>).</summary>
    public string PoolNamespace { get; set; } = "";
    public string PoolGroup { get; set; } = DefaultPoolGroup;
    /// <summary>Standalone mode: <c>k=v,k2=v2</c>.</summary>
    public string EndpointSelector { get; set; } = "";
    /// <summary>Standalone mode target ports (duplicates removed by <see cref="Validate"/>'s caller via <see cref="DistinctTargetPorts"/>).</summary>
    public IReadOnlyList<int> EndpointTargetPorts { get; set; } = [];
    public bool EnableLeaderElection { get; set; }
    /// <summary>Deprecated <c>--model-server-metrics-port</c>: used only when non-zero and the pool has exactly one target port.</summary>
    public int ModelServerMetricsPort { get; set; }

    public bool IsStandalone => EndpointSelector.Length > 0;

    /// <summary>Spec §1.3 rules 1–2 (plus selector syntax); empty when valid. Messages follow the reference.</summary>
    public List<string> Validate()
    {
        var errors = new List<string>();
        if ((PoolName.Length == 0) == (EndpointSelector.Length == 0))
            errors.Add("either pool-name or endpoint-selector must be set");
        if (EndpointSelector.Length > 0)
        {
            var ports = DistinctTargetPorts();
            if (ports.Length is < 1 or > 8)
                errors.Add("endpoint-target-ports must have between 1 and 8 entries when endpoint-selector is set");
            foreach (int p in ports)
                if (p is < 0 or > 65535)
                    errors.Add($"endpoint-target-ports: port {p} is out of range 0..65535");
            if (!LabelSelector.TryParse(EndpointSelector, out _, out string error))
                errors.Add($"endpoint-selector: {error}");
        }
        return errors;
    }

    /// <summary>Target ports with duplicates removed, first occurrence order kept.</summary>
    public int[] DistinctTargetPorts()
    {
        var seen = new HashSet<int>();
        var result = new List<int>();
        foreach (int p in EndpointTargetPorts)
            if (seen.Add(p))
                result.Add(p);
        return result.ToArray();
    }

    /// <summary>Pool namespace: flag if non-empty, else env NAMESPACE if non-empty, else <c>default</c>.</summary>
    public string ResolveNamespace(Func<string, string?>? getEnv = null)
    {
        if (PoolNamespace.Length > 0)
            return PoolNamespace;
        string? env = (getEnv ?? Environment.GetEnvironmentVariable)("NAMESPACE");
        return string.IsNullOrEmpty(env) ? "default" : env;
    }

    /// <summary>
    /// Standalone pool name: the Deployment name from a ReplicaSet pod name — <c>POD_NAME</c> without
    /// its last two <c>-xxxx</c> segments (regex <c>^(.+)-[a-z0-9]+-[a-z0-9]+$</c>).
    /// </summary>
    public static bool TryParseDeploymentName(string? podName, out string deploymentName)
    {
        deploymentName = "";
        if (string.IsNullOrEmpty(podName))
            return false;
        var m = DeploymentPodName().Match(podName);
        if (!m.Success)
            return false;
        deploymentName = m.Groups[1].Value;
        return true;
    }

    /// <summary>Lease name of spec §2.8: <c>epp-&lt;ns&gt;-&lt;name&gt;.gateway-api-inference-extension.sigs.k8s.io</c>.</summary>
    public static string LeaseName(string poolNamespace, string poolName) => $"epp-{poolNamespace}-{poolName}{LeaseNameSuffix}";

    [GeneratedRegex("^(.+)-[a-z0-9]+-[a-z0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex DeploymentPodName();
}
