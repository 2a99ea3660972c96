using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace FastEpp.Hosting;

/// <summary>Which of the EPP's three ports a connection arrived on.</summary>
internal enum EppListener
{
    ExtProc = 1,
    Health = 2,
    Metrics = 3,
}

/// <summary>
/// The EPP's one Kestrel server (ext_proc, health and metrics are three listeners of one ASP.NET Core app, not three
/// apps: each app costs its own configuration, DI container and hosting lifetime — about 30–40 ms of CPU at start-up).
/// Every connection is tagged with its <see cref="EppListener"/>; <see cref="ListenerOf"/> reads the tag, so each port
/// serves only its own routes (see <see cref="EppHost"/>). Limits are sized for Envoy's ext_proc traffic.
/// </summary>
internal static class KestrelApps
{
    private static readonly object s_listenerKey = new();

    /// <summary>An empty builder (no configuration sources, no default logging or lifetime: the EPP has its own) on
    /// Kestrel, with the host's logger factory.</summary>
    public static WebApplicationBuilder CreateBuilder(ILoggerFactory loggerFactory, Action<KestrelServerOptions> listen)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Services.AddRoutingCore();
        builder.Services.AddLogging();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.Http2.MaxStreamsPerConnection = 10_000; // Envoy multiplexes many ext_proc streams per connection
            k.Limits.Http2.InitialConnectionWindowSize = 8 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            listen(k);
        });
        return builder;
    }

    /// <summary>Adds one listener on <paramref name="port"/> of --bind-address (else any address); returns its options,
    /// whose end point carries the real port once the server started (the flag may say 0).</summary>
    /// <param name="grpc">HTTP/2 only (the gRPC servers); else HTTP/1.1 (the metrics server: plaintext HTTP/2 would
    /// need prior knowledge, which Prometheus does not use and Go's server does not offer; Kestrel warned about it at
    /// every start).</param>
    /// <param name="tls">The certificate source when the port serves TLS; null = plaintext.</param>
    public static ListenOptions Listen(KestrelServerOptions kestrel, EppListener kind, int port, bool grpc, CertificateProvider? tls, string bindAddress)
    {
        ListenOptions? options = null;
        void Configure(ListenOptions l)
        {
            options = l;
            l.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1;
            l.Use(next => connection =>
            {
                connection.Items[s_listenerKey] = kind;
                return next(connection);
            });
            if (tls is not null)
                l.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificateSelector = (_, _) => tls.Current });
        }
        if (bindAddress.Length > 0)
            kestrel.Listen(IPAddress.Parse(bindAddress), port, Configure);
        else
            kestrel.ListenAnyIP(port, Configure);
        return options!;
    }

    /// <summary>The listener a request arrived on (0 if untagged).</summary>
    public static EppListener ListenerOf(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(s_listenerKey, out object? kind) == true ? (EppListener)kind! : 0;

    /// <summary>The port a started listener listens on (the real one when the flag said 0).</summary>
    public static int BoundPort(ListenOptions? listener) => listener?.IPEndPoint?.Port ?? 0;

    /// <summary>A trailers-only gRPC UNIMPLEMENTED answer, as a gRPC server answers a service it does not serve.</summary>
    public static Task Unimplemented(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = "12";
        context.Response.Headers["grpc-message"] = "unknown service " + ServiceOf(context.Request.Path.Value);
        return Task.CompletedTask;
    }

    private static string ServiceOf(string? path)
    {
        if (string.IsNullOrEmpty(path))
            return "";
        int slash = path.IndexOf('/', 1);
        return slash > 1 ? path[1..slash] : path.TrimStart('/');
    }
}
