using System.Text.Json.Serialization;

namespace FastEpp.Kubernetes;

/// <summary>The subset of <c>v1.Pod</c> needed to build endpoints (spec runtime.md §2.3).</summary>
internal sealed class Pod : IKubeObject
{
    [JsonPropertyName("metadata")] public ObjectMeta Metadata { get; set => field = value ?? new(); } = new(); // JSON null = Go zero value
    [JsonPropertyName("status")] public PodStatus? Status { get; set; }
}

internal sealed class PodStatus
{
    [JsonPropertyName("podIP")] public string? PodIP { get; set; }
    [JsonPropertyName("conditions")] public List<PodCondition>? Conditions { get; set; }
}

internal sealed class PodCondition
{
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("status")] public string Status { get; set; } = "";
}
