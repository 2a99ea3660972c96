using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http.Features;

namespace FastEpp.Gateway;

/// <summary>Outcome of one upstream attempt.</summary>
internal enum UpstreamOutcome
{
    /// <summary>Response headers received.</summary>
    Ok,
    /// <summary>The TCP connection could not be made (the next endpoint of the list may be tried).</summary>
    ConnectFailed,
    /// <summary>Anything else (reset mid-request, bad response).</summary>
    Failed,
}

/// <summary>
/// HTTP/1.1 client to the model servers: one pooled <see cref="SocketsHttpHandler"/> for every upstream
/// (keep-alive connections per host:port), requests built from the incoming request.
/// </summary>
internal sealed class UpstreamClient : IDisposable
{
    private readonly HttpMessageInvoker _invoker;

    public UpstreamClient()
    {
        _invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(3),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            MaxConnectionsPerServer = int.MaxValue,
        }, disposeHandler: true);
    }

    /// <summary>
    /// Builds the upstream request: same method, path and query, the client's end-to-end headers (hop-by-hop,
    /// Host and the body framing headers are left to the handler), and <paramref name="content"/>.
    /// </summary>
    public static HttpRequestMessage CreateRequest(HttpRequest incoming, string endpoint, HttpContent? content)
    {
        string uri = string.Concat("http://", endpoint, incoming.Path.Value, incoming.QueryString.Value);
        var request = new HttpRequestMessage(new HttpMethod(incoming.Method), uri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> h in incoming.Headers)
        {
            string name = h.Key;
            if (IsHopByHop(name) || name.Equals("Host", StringComparison.OrdinalIgnoreCase) ||
                name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                continue;
            if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
            {
                if (content is not null)
                {
                    content.Headers.Remove("Content-Type"); // content may be reused for the next endpoint
                    content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)h.Value);
                }
                continue;
            }
            request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)h.Value);
        }
        return request;
    }

    /// <summary>Sets or replaces one header (an ext_proc set_headers entry) on the upstream request.</summary>
    public static void SetHeader(HttpRequestMessage request, string key, string value)
    {
        if (key.Length == 0 || key[0] == ':' || IsHopByHop(key) || key.Equals("host", StringComparison.OrdinalIgnoreCase))
            return; // pseudo-headers and framing are owned by the proxy (Envoy ignores them too)
        if (key.Equals("content-length", StringComparison.OrdinalIgnoreCase))
        {
            if (request.Content is not null && long.TryParse(value, out long len) && len >= 0)
                request.Content.Headers.ContentLength = len;
            return;
        }
        if (key.Equals("content-type", StringComparison.OrdinalIgnoreCase))
        {
            if (request.Content is not null)
            {
                request.Content.Headers.Remove("Content-Type");
                request.Content.Headers.TryAddWithoutValidation("Content-Type", value);
            }
            return;
        }
        request.Headers.Remove(key);
        request.Headers.TryAddWithoutValidation(key, value);
    }

    /// <summary>Sends and waits for the response headers; never throws for network failures.</summary>
    public async Task<(UpstreamOutcome Outcome, HttpResponseMessage? Response)> SendAsync(
        HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            HttpResponseMessage response = await _invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
            return (UpstreamOutcome.Ok, response);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.ConnectionError)
        {
            return (UpstreamOutcome.ConnectFailed, null);
        }
        catch (HttpRequestException)
        {
            return (UpstreamOutcome.Failed, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (UpstreamOutcome.ConnectFailed, null); // connect timeout
        }
    }

    /// <summary>Copies status and end-to-end headers of an upstream response to the client response.</summary>
    public static void CopyResponseHead(HttpResponseMessage from, HttpResponse to, bool keepContentLength)
    {
        to.StatusCode = (int)from.StatusCode;
        foreach (KeyValuePair<string, IEnumerable<string>> h in from.Headers)
        {
            if (!IsHopByHop(h.Key))
                to.Headers[h.Key] = ToValues(h.Value);
        }
        foreach (KeyValuePair<string, IEnumerable<string>> h in from.Content.Headers)
        {
            if (!keepContentLength && h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                continue;
            to.Headers[h.Key] = ToValues(h.Value);
        }
    }

    /// <summary>Streams an upstream body to the client, one write (and flush) per read so SSE is not held back.</summary>
    public static async Task CopyBodyAsync(HttpResponseMessage from, HttpContext to, int chunkBytes, CancellationToken cancellationToken)
    {
        to.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        Stream source = await from.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(chunkBytes);
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer.AsMemory(0, chunkBytes), cancellationToken).ConfigureAwait(false)) > 0)
            {
                await to.Response.Body.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                await to.Response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static bool IsHopByHop(string name) =>
        name.Equals("Connection", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("TE", StringComparison.OrdinalIgnoreCase) ||
        name.Equals("Trailer", StringComparison.OrdinalIgnoreCase);

    private static Microsoft.Extensions.Primitives.StringValues ToValues(IEnumerable<string> values)
    {
        if (values is string[] arr)
            return arr.Length == 1 ? new(arr[0]) : new(arr);
        var list = new List<string>(values);
        return list.Count == 1 ? new(list[0]) : new(list.ToArray());
    }

    public void Dispose() => _invoker.Dispose();
}
