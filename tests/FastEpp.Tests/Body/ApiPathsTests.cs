using FastEpp.Body;

namespace FastEpp.Tests.Body;

public class ApiPathsTests
{
    // Spec extproc.md §4.1 step 2; reference openai.go determineAPITypeFromPath (HasSuffix, this order).
    [Theory]
    [InlineData("/v1/completions", null, null, TestApi.Completions)]
    [InlineData("/v1/chat/completions", null, null, TestApi.ChatCompletions)]
    [InlineData("/v1/responses", null, null, TestApi.Responses)]
    [InlineData("/v1/conversations", null, null, TestApi.Conversations)]
    [InlineData("/v1/embeddings", null, null, TestApi.Embeddings)]
    [InlineData("/v1/projects/p/locations/l/endpoints/openapi/chat/completions", null, null, TestApi.ChatCompletions)]
    [InlineData("/v1/chat/completions?x=1", null, null, TestApi.Completions)]
    [InlineData("/v1/chat/completions/", null, null, TestApi.Completions)]
    [InlineData("/v1/models", null, null, TestApi.Completions)]
    [InlineData("", "/v1/embeddings", null, TestApi.Embeddings)]
    [InlineData(null, null, "/v1/responses", TestApi.Responses)]
    [InlineData("", "", "/v1/conversations", TestApi.Conversations)]
    [InlineData("/v1/completions", "/v1/embeddings", "/v1/responses", TestApi.Completions)]
    [InlineData(null, null, null, TestApi.Completions)]
    [InlineData("/x/conversations/responses", null, null, TestApi.Responses)]
    [InlineData("/chat/completions", null, null, TestApi.ChatCompletions)]
    [InlineData("/v1/CHAT/completions", null, null, TestApi.Completions)]
    public void Detect_PathHeaders_ReferenceApiKind(string? path, string? original, string? forwarded, TestApi expected)
    {
        Assert.Equal((ApiKind)expected, ApiPaths.Detect(path, original, forwarded));
    }
}
