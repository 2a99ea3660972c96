namespace FastEpp.Kubernetes;

/// <summary>
/// The pool FastEpp serves, as the reference's internal EndpointPool (spec runtime.md §2.2):
/// from the InferencePool object, or synthetic in standalone mode (§2.9). Immutable.
/// </summary>
internal sealed class EndpointPool
{
    public const string HttpProtocol = "http";
    public const string H2cProtocol = "kubernetes.io/h2c";

    public EndpointPool(string @namespace, string name, IReadOnlyDictionary<string, string> selector, int[] targetPorts, string? appProtocol)
    {
        Namespace = @namespace;
        Name = name;
        Selector = selector;
        TargetPorts = targetPorts;
        AppProtocol = string.IsNullOrEmpty(appProtocol) ? HttpProtocol : appProtocol;
        LabelSelectorText = LabelSelector.Format(selector);
    }

    public string Namespace { get; }
    public string Name { get; }
    /// <summary>matchLabels; pods must carry all of them.</summary>
    public IReadOnlyDictionary<string, string> Selector { get; }
    /// <summary>Model-server ports in pool order; index = endpoint rank.</summary>
    public int[] TargetPorts { get; }
    /// <summary>Effective protocol: the pool's <c>appProtocol</c>, empty treated as <c>http</c> (spec §3.1, §2.9).</summary>
    public string AppProtocol { get; }
    public string LabelSelectorText { get; }

    public bool SameSelector(EndpointPool other) => Namespace == other.Namespace && LabelSelector.AreEqual(Selector, other.Selector);

    /// <summary>Order-sensitive, as the reference compares targetPorts.</summary>
    public bool SameTargetPorts(EndpointPool other) => TargetPorts.AsSpan().SequenceEqual(other.TargetPorts);

    /// <summary>Converts an InferencePool object; false (with a reason) if its spec is unusable.</summary>
    public static bool TryFromInferencePool(InferencePool pool, out EndpointPool? result, out string error)
    {
        result = null;
        var spec = pool.Spec;
        var labels = spec?.Selector?.MatchLabels;
        if (labels is null || labels.Count == 0)
        {
            error = "spec.selector.matchLabels is empty";
            return false;
        }
        if (spec!.TargetPorts is not { Count: > 0 } ports)
        {
            error = "spec.targetPorts is empty";
            return false;
        }
        var numbers = new int[ports.Count];
        for (int i = 0; i < numbers.Length; i++)
        {
            int n = ports[i].Number;
            if (n is < 1 or > 65535)
            {
                error = $"spec.targetPorts[{i}].number {n} is out of range";
                return false;
            }
            numbers[i] = n;
        }
        error = "";
        result = new EndpointPool(pool.Metadata.Namespace ?? "", pool.Metadata.Name,
            new Dictionary<string, string>(labels, StringComparer.Ordinal), numbers, spec.AppProtocol);
        return true;
    }
}
