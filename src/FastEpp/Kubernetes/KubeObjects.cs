using System.Text.Json;
using System.Text.Json.Serialization;

namespace FastEpp.Kubernetes;

// Wire shapes shared by every Kubernetes resource FastEpp reads. Only the fields FastEpp uses are
// declared; everything else in the API server's JSON is skipped by the source-generated reader.

/// <summary>Implemented by every watched object so the informer can key and version it.</summary>
internal interface IKubeObject
{
    ObjectMeta Metadata { get; }
}

/// <summary>The subset of <c>metav1.ObjectMeta</c> FastEpp needs.</summary>
internal sealed class ObjectMeta
{
    [JsonPropertyName("name")] public string Name { get; set => field = value ?? ""; } = ""; // JSON null = Go zero value
    [JsonPropertyName("namespace")] public string? Namespace { get; set; }
    [JsonPropertyName("uid")] public string? Uid { get; set; }
    [JsonPropertyName("resourceVersion")] public string? ResourceVersion { get; set; }
    [JsonPropertyName("creationTimestamp")] public DateTimeOffset? CreationTimestamp { get; set; }
    [JsonPropertyName("deletionTimestamp")] public DateTimeOffset? DeletionTimestamp { get; set; }
    [JsonPropertyName("labels")] public Dictionary<string, string>? Labels { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }

    /// <summary>Fields FastEpp does not model, kept so a PUT (Lease update) does not drop them.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary><c>metav1.ListMeta</c>: the list's resourceVersion and the pagination token.</summary>
internal sealed class ListMeta
{
    [JsonPropertyName("resourceVersion")] public string? ResourceVersion { get; set; }
    [JsonPropertyName("continue")] public string? Continue { get; set; }
}

/// <summary>A LIST response (<c>PodList</c>, <c>InferencePoolList</c>, …).</summary>
internal sealed class KubeList<T>
{
    [JsonPropertyName("metadata")] public ListMeta Metadata { get; set; } = new();
    [JsonPropertyName("items")] public List<T>? Items { get; set; }
}

/// <summary>One line of a watch stream: <c>{"type":"ADDED","object":{...}}</c>.</summary>
internal sealed class WatchEvent<T>
{
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("object")] public T? Object { get; set; }
}

/// <summary><c>metav1.Status</c>: the body of API errors and of watch ERROR events.</summary>
internal sealed class KubeStatus
{
    [JsonPropertyName("status")] public string? Status { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
    [JsonPropertyName("reason")] public string? Reason { get; set; }
    [JsonPropertyName("code")] public int Code { get; set; }
}

/// <summary><c>metav1.APIResourceList</c> returned by group-version discovery.</summary>
internal sealed class ApiResourceList
{
    [JsonPropertyName("groupVersion")] public string? GroupVersion { get; set; }
    [JsonPropertyName("resources")] public List<ApiResource>? Resources { get; set; }
}

internal sealed class ApiResource
{
    [JsonPropertyName("name")] public string Name { get; set => field = value ?? ""; } = ""; // JSON null = Go zero value
    [JsonPropertyName("kind")] public string? Kind { get; set; }
    [JsonPropertyName("namespaced")] public bool Namespaced { get; set; }
}
