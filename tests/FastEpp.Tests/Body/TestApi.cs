using FastEpp.Body;

namespace FastEpp.Tests.Body;

/// <summary>Public mirror of the internal <see cref="ApiKind"/> for xunit theory parameters.</summary>
public enum TestApi
{
    Completions = ApiKind.Completions,
    ChatCompletions = ApiKind.ChatCompletions,
    Responses = ApiKind.Responses,
    Conversations = ApiKind.Conversations,
    Embeddings = ApiKind.Embeddings,
}
