using System.Text.Json.Serialization;

namespace FastEpp.Kubernetes;

/// <summary><c>authentication.k8s.io/v1</c> TokenReview (request and response share the type).</summary>
internal sealed class TokenReview
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "authentication.k8s.io/v1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "TokenReview";
    [JsonPropertyName("spec")] public TokenReviewSpec Spec { get; set; } = new();
    [JsonPropertyName("status")] public TokenReviewStatus? Status { get; set; }
}

internal sealed class TokenReviewSpec
{
    [JsonPropertyName("token")] public string Token { get; set; } = "";
}

internal sealed class TokenReviewStatus
{
    [JsonPropertyName("authenticated")] public bool? Authenticated { get; set; }
    [JsonPropertyName("user")] public ReviewUser? User { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }
}

internal sealed class ReviewUser
{
    [JsonPropertyName("username")] public string? Username { get; set; }
    [JsonPropertyName("uid")] public string? Uid { get; set; }
    [JsonPropertyName("groups")] public List<string>? Groups { get; set; }
    [JsonPropertyName("extra")] public Dictionary<string, List<string>>? Extra { get; set; }
}

/// <summary><c>authorization.k8s.io/v1</c> SubjectAccessReview for a non-resource URL.</summary>
internal sealed class SubjectAccessReview
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "authorization.k8s.io/v1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "SubjectAccessReview";
    [JsonPropertyName("spec")] public SubjectAccessReviewSpec Spec { get; set; } = new();
    [JsonPropertyName("status")] public SubjectAccessReviewStatus? Status { get; set; }
}

internal sealed class SubjectAccessReviewSpec
{
    [JsonPropertyName("user")] public string? User { get; set; }
    [JsonPropertyName("uid")] public string? Uid { get; set; }
    [JsonPropertyName("groups")] public List<string>? Groups { get; set; }
    [JsonPropertyName("extra")] public Dictionary<string, List<string>>? Extra { get; set; }
    [JsonPropertyName("nonResourceAttributes")] public NonResourceAttributes? NonResourceAttributes { get; set; }
}

internal sealed class NonResourceAttributes
{
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("verb")] public string Verb { get; set; } = "";
}

internal sealed class SubjectAccessReviewStatus
{
    [JsonPropertyName("allowed")] public bool Allowed { get; set; }
    [JsonPropertyName("denied")] public bool? Denied { get; set; }
    [JsonPropertyName("reason")] public string? Reason { get; set; }
    [JsonPropertyName("evaluationError")] public string? EvaluationError { get; set; }
}
