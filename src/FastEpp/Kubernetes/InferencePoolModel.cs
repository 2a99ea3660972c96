using System.Text.Json.Serialization;

namespace FastEpp.Kubernetes;

/// <summary><c>inference.networking.k8s.io/v1</c> InferencePool (spec runtime.md §2.6); status is not read.</summary>
internal sealed class InferencePool : IKubeObject
{
    [JsonPropertyName("metadata")] public ObjectMeta Metadata { get; set => field = value ?? new(); } = new(); // JSON null = Go zero value
    [JsonPropertyName("spec")] public InferencePoolSpec? Spec { get; set; }
}

internal sealed class InferencePoolSpec
{
    [JsonPropertyName("selector")] public LabelSelectorModel? Selector { get; set; }
    [JsonPropertyName("targetPorts")] public List<PortNumber>? TargetPorts { get; set; }
    [JsonPropertyName("appProtocol")] public string? AppProtocol { get; set; }
}

internal sealed class LabelSelectorModel
{
    [JsonPropertyName("matchLabels")] public Dictionary<string, string>? MatchLabels { get; set; }
}

internal sealed class PortNumber
{
    [JsonPropertyName("number")] public int Number { get; set; }
}
