using System.Buffers;
using System.Net;
using System.Text.Json;
using FastEpp.Body;

namespace FastEpp.Prefix.Precise;

/// <summary>
/// Exact tokens for a request from the model server itself, as llm-d's token-producer <c>vllm</c> backend does
/// (routing.md §4): the parsed body goes verbatim (model = the target model) to vLLM's render route for its API —
/// <c>POST /v1/chat/completions/render</c> (chat template applied by the server, response: one GenerateRequest with
/// <c>token_ids</c>) or <c>POST /v1/completions/render</c> (response: an array of them). HTTP/1.1, pooled keep-alive
/// connections, a bounded timeout. Asynchronous: the request path awaits it before the synchronous scheduling cycle
/// (<see cref="Scheduling.IAsyncPreparer"/>), so no thread waits on the round trip (cost measured in Prefix/README.md).
/// Costs per request: one HTTP exchange (the request body is sent once more, the token ids come back as JSON) and the
/// HttpClient's own per-request objects (~2–3 KB of garbage); parsing the tokens allocates nothing.
/// </summary>
internal sealed class VllmTokenizer : IDisposable
{
    private readonly HttpClient _client;

    public VllmTokenizer(TimeSpan timeout)
    {
        Timeout = timeout;
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = timeout,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        _client = new HttpClient(handler) { Timeout = timeout };
    }

    public TimeSpan Timeout { get; }

    /// <summary>What <see cref="TokenizeAsync"/> returns when the server has no such route (404/405/501): try <see cref="TokenizePath"/>.</summary>
    public const int RouteMissing = -2;

    /// <summary>vLLM's older tokenization route: takes the same completion (<c>prompt</c>) or chat (<c>messages</c>, template applied) body.</summary>
    public const string TokenizePath = "/tokenize";

    /// <summary>The render path for an API, or null when the API has no render route (then the caller falls back).</summary>
    public static string? RenderPath(ApiKind api) => api switch
    {
        ApiKind.ChatCompletions => "/v1/chat/completions/render",
        ApiKind.Completions => "/v1/completions/render",
        _ => null,
    };

    /// <summary>
    /// Tokenizes <paramref name="body"/> at <paramref name="baseUri"/> (e.g. <c>http://10.0.0.5:8000</c>). The ids are
    /// written into <paramref name="tokens"/>' ids (grown when needed); returns their count, or −1 with an error on any
    /// failure (status, timeout, connection, unparseable answer), or <see cref="RouteMissing"/> when the server does
    /// not serve <paramref name="path"/>. Never throws for I/O failures.
    /// </summary>
    public async Task<(int Count, string? Error)> TokenizeAsync(string baseUri, string path, ReadOnlyMemory<byte> body, Scheduling.PromptTokens tokens)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, baseUri + path)
            {
                Version = HttpVersion.Version11,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ReadOnlyMemoryContent(body),
            };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using HttpResponseMessage response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented
                    ? RouteMissing : -1, $"{path} answered {(int)response.StatusCode}");
            }
            using Stream stream = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                int length = 0;
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= 64 << 20)
                            return (-1, $"{path} answer larger than 64 MiB");
                        byte[] bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, length).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                    int read = await stream.ReadAsync(buffer.AsMemory(length, buffer.Length - length)).ConfigureAwait(false);
                    if (read == 0)
                        break;
                    length += read;
                }
                int n = ParseTokenIds(buffer.AsSpan(0, length), ref tokens.Ids);
                return (n, n < 0 ? $"{path} answer has no token_ids" : null);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or OperationCanceledException or IOException or JsonException)
        {
            return (-1, e is TaskCanceledException or OperationCanceledException ? $"{path} timed out after {Timeout.TotalMilliseconds:0} ms" : $"{path}: {e.Message}");
        }
    }

    /// <summary>
    /// The first <c>token_ids</c> (render) or <c>tokens</c> (/tokenize) array in a JSON answer, at the top level or in the
    /// first element of a top-level array. Returns the count, or −1 when there is none.
    /// </summary>
    public static int ParseTokenIds(ReadOnlySpan<byte> json, ref uint[] tokens)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth > 2)
                continue;
            if (!reader.ValueTextEquals("token_ids"u8) && !reader.ValueTextEquals("tokens"u8))
                continue;
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                continue;
            int n = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt32(out uint id))
                    return -1;
                if (n == tokens.Length)
                    Array.Resize(ref tokens, tokens.Length * 2);
                tokens[n++] = id;
            }
            return n;
        }
        return -1;
    }

    public void Dispose() => _client.Dispose();
}
