using System.Text.Json.Serialization;

namespace FastEpp.Kubernetes;

/// <summary>
/// Source-generated (AOT-safe) JSON metadata for the handful of Kubernetes types FastEpp reads and
/// writes. Roots only these types — the reason the lean client is ~17 MB smaller than
/// KubernetesClient.Aot, whose context roots ~1,200 models (docs/architecture-kubernetes.md).
/// </summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(KubeList<Pod>))]
[JsonSerializable(typeof(WatchEvent<Pod>))]
[JsonSerializable(typeof(KubeList<InferencePool>))]
[JsonSerializable(typeof(WatchEvent<InferencePool>))]
[JsonSerializable(typeof(KubeList<InferenceObjective>))]
[JsonSerializable(typeof(WatchEvent<InferenceObjective>))]
[JsonSerializable(typeof(KubeList<InferenceModelRewrite>))]
[JsonSerializable(typeof(WatchEvent<InferenceModelRewrite>))]
[JsonSerializable(typeof(WatchEvent<KubeStatus>))]
[JsonSerializable(typeof(KubeStatus))]
[JsonSerializable(typeof(Lease))]
[JsonSerializable(typeof(TokenReview))]
[JsonSerializable(typeof(SubjectAccessReview))]
[JsonSerializable(typeof(ApiResourceList))]
internal sealed partial class KubeJsonContext : JsonSerializerContext;
