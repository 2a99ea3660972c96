using System.Net;

namespace FastEpp.Kubernetes;

/// <summary>An API call failed with an HTTP status (or a watch ERROR event carrying one).</summary>
internal sealed class KubeApiException(HttpStatusCode statusCode, string message, string? reason = null)
    : Exception(message)
{
    public HttpStatusCode StatusCode { get; } = statusCode;
    /// <summary><c>metav1.Status.reason</c> when the server sent one (e.g. <c>Expired</c>, <c>Conflict</c>).</summary>
    public string? Reason { get; } = reason;

    /// <summary>410 Gone: the resourceVersion is too old; the informer must re-LIST.</summary>
    public bool IsGone => StatusCode == HttpStatusCode.Gone;
}
