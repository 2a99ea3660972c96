using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FastEpp.Hosting;

/// <summary>
/// The shape shared by the EPP's three Kestrel apps (ext_proc, health, metrics): a slim builder on one port of
/// --bind-address (else any address), the host's logger factory, limits sized for Envoy's ext_proc traffic.
/// </summary>
internal static class KestrelApps
{
    /// <param name="grpc">HTTP/2 only (the gRPC servers); else HTTP/1.1 and HTTP/2.</param>
    /// <param name="tls">The certificate source when the port serves TLS; null = plaintext.</param>
    public static WebApplicationBuilder CreateBuilder(int port, bool grpc, CertificateProvider? tls, string bindAddress, ILoggerFactory loggerFactory)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.Http2.MaxStreamsPerConnection = 10_000; // Envoy multiplexes many ext_proc streams per connection
            k.Limits.Http2.InitialConnectionWindowSize = 8 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            void Configure(ListenOptions l)
            {
                l.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1AndHttp2;
                if (tls is not null)
                    l.UseHttps(h => h.ServerCertificateSelector = (_, _) => tls.Current);
            }
            if (bindAddress.Length > 0)
                k.Listen(IPAddress.Parse(bindAddress), port, Configure);
            else
                k.ListenAnyIP(port, Configure);
        });
        return builder;
    }

    /// <summary>The port a started app listens on (the real one when the flag said 0).</summary>
    public static int BoundPort(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        foreach (var address in addresses)
        {
            int colon = address.LastIndexOf(':');
            if (colon > 0 && int.TryParse(address.AsSpan(colon + 1).TrimEnd('/'), NumberStyles.None, CultureInfo.InvariantCulture, out int p))
                return p;
        }
        return 0;
    }
}
