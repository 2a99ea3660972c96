using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace FastEpp.Kubernetes;

/// <summary>
/// A lean Kubernetes REST client over <see cref="HttpClient"/>: GET/LIST/CREATE/REPLACE and WATCH
/// with source-generated JSON for the few types FastEpp needs (see docs/architecture-kubernetes.md
/// for why not KubernetesClient.Aot). Thread-safe; one instance per process.
/// </summary>
internal sealed class KubeApiClient : IDisposable
{
    /// <summary>A watch line larger than this is treated as a broken stream (a Pod is a few KB).</summary>
    private const int MaxWatchLineBytes = 16 * 1024 * 1024;
    private const int ListPageSize = 500;

    private static readonly MediaTypeWithQualityHeaderValue s_json = new("application/json");

    private readonly HttpClient _http;
    private readonly Uri _server;
    private readonly BearerTokenSource? _token;

    public KubeApiClient(KubeClientConfig config, HttpMessageHandler? handler = null)
    {
        _server = config.Server;
        _token = config.Token;
        _http = new HttpClient(handler ?? config.CreateHandler(), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan, // per call: RequestTimeout for unary, idle timeout for watches
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("fastepp");
    }

    /// <summary>Timeout of a unary call (GET, one LIST page, PUT, POST).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A watch that delivers no bytes for this long is considered dead and is reconnected.</summary>
    public TimeSpan WatchIdleTimeout { get; init; } = TimeSpan.FromMinutes(11);

    public Uri Server => _server;

    /// <summary>GET one object; null on 404.</summary>
    public async Task<T?> GetAsync<T>(string path, JsonTypeInfo<T> typeInfo, CancellationToken ct) where T : class
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(RequestTimeout);
        using var request = NewRequest(HttpMethod.Get, path);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return null;
        await EnsureSuccessAsync(response, cts.Token).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
        return await JsonSerializer.DeserializeAsync(body, typeInfo, cts.Token).ConfigureAwait(false)
            ?? throw new KubeApiException(response.StatusCode, $"GET {path}: empty body");
    }

    /// <summary>POST (create) or PUT (replace); returns the server's copy. 409 Conflict → <see cref="KubeApiException"/>.</summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string path, T body, JsonTypeInfo<T> typeInfo, CancellationToken ct) where T : class
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(RequestTimeout);
        using var request = NewRequest(method, path);
        request.Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, typeInfo));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cts.Token).ConfigureAwait(false);
        await using var stream = await response.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
        return await JsonSerializer.DeserializeAsync(stream, typeInfo, cts.Token).ConfigureAwait(false)
            ?? throw new KubeApiException(response.StatusCode, $"{method} {path}: empty body");
    }

    /// <summary>
    /// LIST all pages (<c>limit</c>/<c>continue</c>). Returns the items and the list's resourceVersion,
    /// from which a watch can start. An expired continue token surfaces as a 410 <see cref="KubeApiException"/>.
    /// </summary>
    public async Task<(List<T> Items, string ResourceVersion)> ListAsync<T>(
        string path, string? labelSelector, string? fieldSelector, JsonTypeInfo<KubeList<T>> typeInfo, CancellationToken ct)
    {
        var items = new List<T>();
        string? continueToken = null;
        string resourceVersion = "";
        do
        {
            var query = new StringBuilder(path).Append("?limit=").Append(ListPageSize);
            AppendSelectors(query, labelSelector, fieldSelector);
            if (continueToken is not null)
                query.Append("&continue=").Append(Uri.EscapeDataString(continueToken));

            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(RequestTimeout);
            using var request = NewRequest(HttpMethod.Get, query.ToString());
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            await EnsureSuccessAsync(response, cts.Token).ConfigureAwait(false);
            await using var body = await response.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
            var page = await JsonSerializer.DeserializeAsync(body, typeInfo, cts.Token).ConfigureAwait(false)
                ?? throw new KubeApiException(response.StatusCode, $"LIST {path}: empty body");
            if (page.Items is not null)
                items.AddRange(page.Items);
            resourceVersion = page.Metadata.ResourceVersion ?? "";
            continueToken = string.IsNullOrEmpty(page.Metadata.Continue) ? null : page.Metadata.Continue;
        }
        while (continueToken is not null);
        return (items, resourceVersion);
    }

    /// <summary>
    /// Runs one WATCH from <paramref name="resourceVersion"/> and calls <paramref name="onEvent"/> for each
    /// ADDED/MODIFIED/DELETED/BOOKMARK event, in order, on this task. Returns when the server ends the
    /// stream (timeoutSeconds reached). An ERROR event or HTTP error throws <see cref="KubeApiException"/>
    /// (410 → <see cref="KubeApiException.IsGone"/>); a broken connection throws IOException/HttpRequestException.
    /// </summary>
    public async Task WatchAsync<T>(string path, string? labelSelector, string? fieldSelector, string resourceVersion,
        int timeoutSeconds, JsonTypeInfo<WatchEvent<T>> typeInfo, Action<WatchEvent<T>> onEvent, CancellationToken ct)
    {
        var query = new StringBuilder(path).Append("?watch=true&allowWatchBookmarks=true");
        AppendSelectors(query, labelSelector, fieldSelector);
        if (resourceVersion.Length > 0)
            query.Append("&resourceVersion=").Append(Uri.EscapeDataString(resourceVersion));
        query.Append("&timeoutSeconds=").Append(timeoutSeconds);

        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(RequestTimeout);
        using var request = NewRequest(HttpMethod.Get, query.ToString());
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"WATCH {path}: no response headers within {RequestTimeout}");
        }
        using (response)
        {
            await EnsureSuccessAsync(response, idle.Token).ConfigureAwait(false);
            await using var stream = await response.Content.ReadAsStreamAsync(idle.Token).ConfigureAwait(false);
            var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
            try
            {
                while (true)
                {
                    idle.CancelAfter(WatchIdleTimeout);
                    ReadResult result;
                    try
                    {
                        result = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        throw new TimeoutException($"WATCH {path}: no data for {WatchIdleTimeout}");
                    }
                    var buffer = result.Buffer;
                    while (TryReadLine(ref buffer, out var line))
                    {
                        if (IsBlank(line))
                            continue;
                        Dispatch(line, typeInfo, onEvent);
                    }
                    if (buffer.Length > MaxWatchLineBytes)
                        throw new InvalidDataException($"WATCH {path}: event larger than {MaxWatchLineBytes} bytes");
                    if (result.IsCompleted)
                    {
                        if (!IsBlank(buffer))
                            Dispatch(buffer, typeInfo, onEvent); // last event without a trailing newline
                        reader.AdvanceTo(buffer.End);
                        return;
                    }
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }
            }
            finally
            {
                await reader.CompleteAsync().ConfigureAwait(false);
            }
        }
    }

    internal static void Dispatch<T>(ReadOnlySequence<byte> line, JsonTypeInfo<WatchEvent<T>> typeInfo, Action<WatchEvent<T>> onEvent)
    {
        WatchEvent<T> ev;
        try
        {
            // The object of an ERROR event is a metav1.Status, not a T (its "status" is a string where a
            // Pod's is an object), so the type is peeked first; the API server writes it first.
            if (IsErrorEvent(line))
            {
                var statusReader = new Utf8JsonReader(line);
                var status = JsonSerializer.Deserialize(ref statusReader, KubeJsonContext.Default.WatchEventKubeStatus)?.Object;
                int code = status?.Code ?? 500;
                throw new KubeApiException((HttpStatusCode)(code is >= 100 and <= 599 ? code : 500),
                    $"watch error: {status?.Message ?? "(no message)"}", status?.Reason);
            }
            var json = new Utf8JsonReader(line);
            ev = JsonSerializer.Deserialize(ref json, typeInfo) ?? throw new InvalidDataException("watch event is null");
        }
        catch (InvalidOperationException ex)
        {
            // System.Text.Json refuses names/strings with invalid surrogate escapes this way (found by the fuzzer).
            throw new InvalidDataException($"watch event is not valid JSON text: {ex.Message}", ex);
        }
        onEvent(ev);
    }

    private static bool IsErrorEvent(ReadOnlySequence<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            return false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isType = reader.ValueTextEquals("type"u8);
            if (!reader.Read())
                return false;
            if (isType)
                return reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("ERROR"u8);
            reader.Skip();
        }
        return false;
    }

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        var position = buffer.PositionOf((byte)'\n');
        if (position is null)
        {
            line = default;
            return false;
        }
        line = buffer.Slice(0, position.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, position.Value));
        return true;
    }

    private static bool IsBlank(ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
            if (segment.Span.IndexOfAnyExcept(" \t\r"u8) >= 0)
                return false;
        return true;
    }

    private static void AppendSelectors(StringBuilder query, string? labelSelector, string? fieldSelector)
    {
        if (!string.IsNullOrEmpty(labelSelector))
            query.Append("&labelSelector=").Append(Uri.EscapeDataString(labelSelector));
        if (!string.IsNullOrEmpty(fieldSelector))
            query.Append("&fieldSelector=").Append(Uri.EscapeDataString(fieldSelector));
    }

    private HttpRequestMessage NewRequest(HttpMethod method, string pathAndQuery)
    {
        var request = new HttpRequestMessage(method, new Uri(_server, pathAndQuery));
        request.Headers.Accept.Add(s_json);
        if (_token?.GetToken() is { } token)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
            return;
        string method = response.RequestMessage?.Method.Method ?? "";
        string path = response.RequestMessage?.RequestUri?.AbsolutePath ?? "";
        KubeStatus? status = null;
        try
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            if (bytes.Length is > 0 and < 1024 * 1024)
                status = JsonSerializer.Deserialize(bytes, KubeJsonContext.Default.KubeStatus);
        }
        catch (JsonException)
        {
        }
        throw new KubeApiException(response.StatusCode,
            $"{method} {path}: {(int)response.StatusCode} {status?.Message ?? response.ReasonPhrase}", status?.Reason);
    }

    public void Dispose() => _http.Dispose();
}
