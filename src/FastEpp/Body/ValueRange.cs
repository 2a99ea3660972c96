using System.Text.Json;

namespace FastEpp.Body;

/// <summary>
/// Byte range of one JSON value inside the request body (absolute offsets into the body sequence) and
/// the kind of its first token. <see cref="JsonValueKind.Undefined"/> means "key not present".
/// </summary>
internal readonly record struct ValueRange(long Start, long Length, JsonValueKind Kind)
{
    public bool IsPresent => Kind != JsonValueKind.Undefined;

    /// <summary>Present and not JSON null (Go: a non-nil <c>any</c>).</summary>
    public bool IsNonNull => Kind is not (JsonValueKind.Undefined or JsonValueKind.Null);
}
