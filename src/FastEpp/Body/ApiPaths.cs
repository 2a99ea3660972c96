namespace FastEpp.Body;

/// <summary>
/// API detection from the request path (spec extproc.md §4.1 step 2; reference
/// <c>parsers/openai/openai.go</c> getRequestPath + determineAPITypeFromPath).
/// </summary>
internal static class ApiPaths
{
    /// <summary>
    /// First non-empty of <c>:path</c>, <c>x-original-path</c>, <c>x-forwarded-path</c> (default
    /// <c>/v1/completions</c>), then a suffix match in the reference's order. The query string is NOT
    /// stripped: <c>/v1/chat/completions?x=1</c> falls back to completions, as in the reference.
    /// </summary>
    public static ApiKind Detect(string? path, string? originalPath, string? forwardedPath)
    {
        string p = !string.IsNullOrEmpty(path) ? path
            : !string.IsNullOrEmpty(originalPath) ? originalPath
            : !string.IsNullOrEmpty(forwardedPath) ? forwardedPath
            : "/v1/completions";

        if (p.EndsWith("/conversations", StringComparison.Ordinal))
        {
            return ApiKind.Conversations;
        }

        if (p.EndsWith("/responses", StringComparison.Ordinal))
        {
            return ApiKind.Responses;
        }

        if (p.EndsWith("/chat/completions", StringComparison.Ordinal))
        {
            return ApiKind.ChatCompletions;
        }

        if (p.EndsWith("/completions", StringComparison.Ordinal))
        {
            return ApiKind.Completions;
        }

        if (p.EndsWith("/embeddings", StringComparison.Ordinal))
        {
            return ApiKind.Embeddings;
        }

        return ApiKind.Completions;
    }
}
