using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace FastEpp.Perf.Load;

/// <summary>
/// Sends streaming chat requests and measures them from the SSE stream: TTFT = first event whose delta carries
/// non-empty content, end-to-end = <c>[DONE]</c> (or end of stream), token counts from the final usage chunk
/// (<c>stream_options.include_usage</c>). Lines are scanned as bytes in a pooled buffer; nothing is deserialized.
/// </summary>
internal sealed class StreamingClient : IDisposable
{
    private static readonly MediaTypeHeaderValue s_json = new("application/json");
    private readonly HttpMessageInvoker _invoker;
    private readonly Uri _uri;

    public StreamingClient(string baseAddress, string path = "/v1/chat/completions")
    {
        _uri = new Uri(baseAddress.TrimEnd('/') + path);
        _invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        }, disposeHandler: true);
    }

    /// <summary>
    /// Sends one request; never throws (failures are in the result). <paramref name="requestId"/>, when given, is sent as
    /// x-request-id (the gateway's bypass choice hashes it, so the same requests bypass in every mode).
    /// </summary>
    public async Task<RequestResult> SendAsync(byte[] body, long runStart, CancellationToken cancellationToken, string? requestId = null)
    {
        var result = new RequestResult { Ttft = double.NaN };
        long start = Stopwatch.GetTimestamp();
        result.SentAt = Stopwatch.GetElapsedTime(runStart, start).TotalSeconds;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = s_json;
            using var request = new HttpRequestMessage(HttpMethod.Post, _uri) { Content = content, Version = HttpVersion.Version11 };
            if (requestId is not null)
                request.Headers.TryAddWithoutValidation("x-request-id", requestId);
            using HttpResponseMessage response = await _invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
            result.Status = (int)response.StatusCode;
            Stream stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                await stream.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
                return Finish(ref result, start, runStart);
            }

            int filled = 0; // bytes of an incomplete line kept at the start of buffer
            bool done = false;
            while (!done)
            {
                if (filled == buffer.Length)
                {
                    byte[] bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                int n = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                    break;
                long now = Stopwatch.GetTimestamp();
                int end = filled + n;
                int lineStart = 0;
                int nl;
                while ((nl = buffer.AsSpan(lineStart, end - lineStart).IndexOf((byte)'\n')) >= 0)
                {
                    ReadOnlySpan<byte> line = buffer.AsSpan(lineStart, nl);
                    lineStart += nl + 1;
                    if (ScanLine(line, ref result, start, now))
                    {
                        done = true;
                        break;
                    }
                }
                filled = end - lineStart;
                if (filled > 0 && lineStart > 0)
                    buffer.AsSpan(lineStart, filled).CopyTo(buffer);
            }
            result.Ok = result.OutputTokens > 0 || !double.IsNaN(result.Ttft);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            result.Ok = false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return Finish(ref result, start, runStart);
    }

    private static RequestResult Finish(ref RequestResult r, long start, long runStart)
    {
        long end = Stopwatch.GetTimestamp();
        r.E2e = Stopwatch.GetElapsedTime(start, end).TotalSeconds;
        r.FinishedAt = Stopwatch.GetElapsedTime(runStart, end).TotalSeconds;
        return r;
    }

    /// <summary>Handles one SSE line; true at <c>data: [DONE]</c>.</summary>
    private static bool ScanLine(ReadOnlySpan<byte> line, ref RequestResult r, long start, long now)
    {
        if (!line.StartsWith("data: "u8))
            return false;
        ReadOnlySpan<byte> data = line[6..];
        if (data.SequenceEqual("[DONE]"u8))
            return true;
        if (double.IsNaN(r.Ttft))
        {
            // chat: delta.content; completions: choices[].text
            int c = data.IndexOf("\"content\":\""u8);
            int k = c >= 0 ? c + 11 : data.IndexOf("\"text\":\""u8) is int t and >= 0 ? t + 8 : -1;
            if (k >= 0 && k < data.Length && data[k] != (byte)'"')
                r.Ttft = Stopwatch.GetElapsedTime(start, now).TotalSeconds;
        }
        if (data.IndexOf("\"usage\":{"u8) >= 0)
        {
            r.OutputTokens = IntAfter(data, "\"completion_tokens\":"u8);
            r.PromptTokens = IntAfter(data, "\"prompt_tokens\":"u8);
            r.CachedTokens = IntAfter(data, "\"cached_tokens\":"u8);
        }
        return false;
    }

    private static int IntAfter(ReadOnlySpan<byte> data, ReadOnlySpan<byte> key)
    {
        int i = data.IndexOf(key);
        if (i < 0)
            return 0;
        return Utf8Parser.TryParse(data[(i + key.Length)..], out int v, out _) ? v : 0;
    }

    public void Dispose() => _invoker.Dispose();
}
