namespace FastEpp.Body;

/// <summary>Outcome of <see cref="OpenAiRequestParser.Parse"/>; both failures are HTTP 400 (BadRequest).</summary>
internal enum ParseStatus
{
    Ok,

    /// <summary>Go's first decode into <c>map[string]any</c> failed: <c>error unmarshaling request bodyMap: ...</c>.</summary>
    InvalidJson,

    /// <summary>The typed decode / validation for the API failed: <c>invalid ... request: must have ...</c>.</summary>
    InvalidRequest,
}
