using Envoy.Type.V3;

namespace FastEpp.Requests;

/// <summary>
/// The reference's typed error (spec extproc.md §3): <c>inference error: &lt;Code&gt; - &lt;Msg&gt;</c>, answered as an
/// ImmediateResponse with the mapped HTTP status, after which the stream ends with gRPC OK.
/// </summary>
internal readonly record struct InferenceError(string Code, string Message)
{
    public const string BadRequest = "BadRequest";
    public const string ResourceExhausted = "ResourceExhausted";
    public const string Internal = "Internal";
    public const string ServiceUnavailable = "ServiceUnavailable";
    /// <summary>FastEpp's own: a body larger than --max-request-body-bytes (the reference has no cap).</summary>
    public const string PayloadTooLarge = "PayloadTooLarge";

    public override string ToString() => $"inference error: {Code} - {Message}";

    public StatusCode HttpStatus => Code switch
    {
        BadRequest => StatusCode.BadRequest,
        "Unauthorized" => StatusCode.Unauthorized,
        "Forbidden" => StatusCode.Forbidden,
        "NotFound" => StatusCode.NotFound,
        ResourceExhausted => StatusCode.TooManyRequests,
        ServiceUnavailable => StatusCode.ServiceUnavailable,
        PayloadTooLarge => StatusCode.PayloadTooLarge,
        _ => StatusCode.InternalServerError,
    };
}
