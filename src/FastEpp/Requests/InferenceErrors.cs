using System.Globalization;

namespace FastEpp.Requests;

/// <summary>
/// Every error the EPP answers with an ImmediateResponse (status from the code, body
/// <c>inference error: &lt;Code&gt; - &lt;Msg&gt;</c>), texts as the reference writes them (spec extproc.md §3,
/// runtime.md §4.4). Fixed errors are fields; the ones carrying a detail are built on the (rare) error path.
/// </summary>
internal static class InferenceErrors
{
    // Request body.
    public static readonly InferenceError InvalidBody = new(InferenceError.BadRequest, "invalid request body");
    public static readonly InferenceError ModelMissing = new(InferenceError.BadRequest, "model not found in request body");

    /// <summary>The parser's Go-compatible text, or <see cref="InvalidBody"/>.</summary>
    public static InferenceError BadBody(string? parseError) =>
        parseError is null ? InvalidBody : new(InferenceError.BadRequest, parseError);

    /// <summary>FastEpp's own cap (the reference has none).</summary>
    public static InferenceError BodyTooLarge(long limit) => new(InferenceError.PayloadTooLarge,
        string.Create(CultureInfo.InvariantCulture, $"request body exceeds the limit of {limit} bytes (--max-request-body-bytes)"));

    // Endpoints and scheduling.
    public static readonly InferenceError NoPods = new(InferenceError.Internal, "no pods available in datastore");
    public static readonly InferenceError NoCandidates = new(InferenceError.ServiceUnavailable, "failed to find endpoint candidates for serving the request");
    public static readonly InferenceError NoResults = new(InferenceError.Internal, "results must be greater than zero");

    public static InferenceError NoTarget(string? schedulerError) =>
        new(InferenceError.ResourceExhausted, "failed to find target endpoint: " + schedulerError);

    // Admission: legacy shedding.
    public static readonly InferenceError Shed = new(InferenceError.ResourceExhausted, "system saturated, sheddable request dropped");

    // Admission: flow control (the reference's QueueOutcome → error mapping).
    public static readonly InferenceError QueueFull = new(InferenceError.ResourceExhausted, "request rejected pre-queue: queue at capacity");
    public static readonly InferenceError QueueTtlExpired = new(InferenceError.ServiceUnavailable,
        "request timed out in queue: request evicted from queue: request TTL expired");
    public static readonly InferenceError QueueClientGone = new(InferenceError.ServiceUnavailable,
        "client disconnected: request evicted from queue: request context cancelled: context canceled");
    public static readonly InferenceError QueueStopped = new(InferenceError.Internal,
        "internal flow control error: request evicted from queue: flow controller is not running");
}
