namespace FastEpp.Body;

/// <summary>The OpenAI API a request body is validated against (chosen from the request path).</summary>
internal enum ApiKind
{
    Completions,
    ChatCompletions,
    Responses,
    Conversations,
    Embeddings,
}
