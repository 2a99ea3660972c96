using System.Text.Json;
using System.Text.Json.Serialization;

namespace FastEpp.Kubernetes;

/// <summary>
/// <c>coordination.k8s.io/v1</c> Lease. Times are kept as strings because the API server parses
/// MicroTime with exactly six fractional digits (Go layout <c>RFC3339Micro</c>); see <see cref="LeaseTime"/>.
/// </summary>
internal sealed class Lease : IKubeObject
{
    [JsonPropertyName("apiVersion")] public string ApiVersion { get; set; } = "coordination.k8s.io/v1";
    [JsonPropertyName("kind")] public string Kind { get; set; } = "Lease";
    [JsonPropertyName("metadata")] public ObjectMeta Metadata { get; set => field = value ?? new(); } = new(); // JSON null = Go zero value
    [JsonPropertyName("spec")] public LeaseSpec Spec { get; set; } = new();
}

internal sealed class LeaseSpec
{
    [JsonPropertyName("holderIdentity")] public string? HolderIdentity { get; set; }
    [JsonPropertyName("leaseDurationSeconds")] public int? LeaseDurationSeconds { get; set; }
    [JsonPropertyName("acquireTime")] public string? AcquireTime { get; set; }
    [JsonPropertyName("renewTime")] public string? RenewTime { get; set; }
    [JsonPropertyName("leaseTransitions")] public int? LeaseTransitions { get; set; }
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>Formats <c>metav1.MicroTime</c> the way the API server requires.</summary>
internal static class LeaseTime
{
    public static string Format(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
