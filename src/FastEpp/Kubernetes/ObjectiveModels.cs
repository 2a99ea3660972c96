using System.Text.Json.Serialization;

namespace FastEpp.Kubernetes;

/// <summary><c>inference.networking.x-k8s.io/v1alpha2</c> InferenceObjective (spec runtime.md §2.6).</summary>
internal sealed class InferenceObjective : IKubeObject
{
    [JsonPropertyName("metadata")] public ObjectMeta Metadata { get; set => field = value ?? new(); } = new(); // JSON null = Go zero value
    [JsonPropertyName("spec")] public InferenceObjectiveSpec? Spec { get; set; }
}

internal sealed class InferenceObjectiveSpec
{
    [JsonPropertyName("priority")] public int? Priority { get; set; }
    [JsonPropertyName("poolRef")] public PoolObjectReference? PoolRef { get; set; }
}

/// <summary><c>spec.poolRef</c> of objectives and rewrites; group defaults to the pool group in the CRD.</summary>
internal sealed class PoolObjectReference
{
    [JsonPropertyName("group")] public string? Group { get; set; }
    [JsonPropertyName("kind")] public string? Kind { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
}

/// <summary><c>inference.networking.x-k8s.io/v1alpha2</c> InferenceModelRewrite (spec runtime.md §2.6).</summary>
internal sealed class InferenceModelRewrite : IKubeObject
{
    [JsonPropertyName("metadata")] public ObjectMeta Metadata { get; set => field = value ?? new(); } = new(); // JSON null = Go zero value
    [JsonPropertyName("spec")] public InferenceModelRewriteSpec? Spec { get; set; }
}

internal sealed class InferenceModelRewriteSpec
{
    [JsonPropertyName("poolRef")] public PoolObjectReference? PoolRef { get; set; }
    [JsonPropertyName("rules")] public List<ModelRewriteRuleModel>? Rules { get; set; }
}

internal sealed class ModelRewriteRuleModel
{
    [JsonPropertyName("matches")] public List<ModelMatchModel>? Matches { get; set; }
    [JsonPropertyName("targets")] public List<ModelTargetModel>? Targets { get; set; }
}

internal sealed class ModelMatchModel
{
    [JsonPropertyName("model")] public ModelMatchValue? Model { get; set; }
}

internal sealed class ModelMatchValue
{
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("value")] public string? Value { get; set; }
}

internal sealed class ModelTargetModel
{
    [JsonPropertyName("weight")] public int Weight { get; set; }
    [JsonPropertyName("modelRewrite")] public string? ModelRewrite { get; set; }
}
