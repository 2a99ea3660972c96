using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Envoy.Service.ExtProc.V3;
using FastEpp.Hosting;
using FastEpp.Tests.Common;
using FastEpp.Tests.ExtProc;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.Hosting;

/// <summary>
/// A real rotation of a mounted certificate (<c>--cert-path</c> + <c>--enable-cert-reload</c>, as cert-manager
/// rewrites a Secret volume): new TLS connections get the new pair, a stream opened before the rotation finishes on
/// the old connection, and a garbage write in between never takes the listener down.
/// </summary>
public sealed class CertificateRotationTests
{
    private static void WritePair(string dir, X509Certificate2 cert)
    {
        File.WriteAllText(Path.Combine(dir, "tls.crt"), cert.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir, "tls.key"), cert.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    private static X509Certificate2 NewPair(string commonName)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>The certificate a fresh TLS handshake (ALPN h2, as Envoy) is served on the ext_proc port.</summary>
    private static async Task<string> ServedThumbprint(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [SslApplicationProtocol.Http2],
        });
        Assert.Equal(SslApplicationProtocol.Http2, tls.NegotiatedApplicationProtocol);
        return new X509Certificate2(tls.RemoteCertificate!).Thumbprint;
    }

    private static GrpcChannel TlsChannel(int port, Action<string> seen) =>
        GrpcChannel.ForAddress($"https://127.0.0.1:{port}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                SslOptions = new SslClientAuthenticationOptions
                {
                    RemoteCertificateValidationCallback = (_, cert, _, _) => { seen(new X509Certificate2(cert!).Thumbprint); return true; },
                },
            },
        });

    private static async Task<string> Route(EnvoyStream s)
    {
        await s.SendRequestBody("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"u8.ToArray(), 16);
        return EnvoyStream.SetHeaders((await s.Next()).RequestHeaders.Response)["x-gateway-destination-endpoint"];
    }

    [Fact]
    public async Task MountedCertificate_Rotated_NewConnectionsGetNewPair_OpenStreamFinishes()
    {
        var dir = Directory.CreateTempSubdirectory("fastepp-rotate").FullName;
        try
        {
            using var first = NewPair("first");
            using var second = NewPair("second");
            WritePair(dir, first);
            var options = EppOptions.Parse(["--endpoints", "10.0.0.9:8000", "--bind-address", "127.0.0.1",
                "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0",
                "--cert-path", dir, "--enable-cert-reload"]);
            await using var host = await EppHost.StartAsync(options, NullLoggerFactory.Instance);
            Assert.Equal(first.Thumbprint, await ServedThumbprint(host.GrpcPort));

            // A stream opened on the first certificate, left mid-request across the rotation.
            string? oldSeen = null;
            using var oldChannel = TlsChannel(host.GrpcPort, t => oldSeen = t);
            using var open = new EnvoyStream(new ExternalProcessor.ExternalProcessorClient(oldChannel).Process());
            await open.SendRequestHeaders(false, EnvoyStream.ChatHeaders());

            // A half-written pair first (the watcher sees garbage and keeps serving the old one), then the new pair.
            File.WriteAllText(Path.Combine(dir, "tls.crt"), "-----BEGIN CERTIFICATE-----\ngarbage");
            WritePair(dir, second);
            await Wait.UntilAsync(async () => await ServedThumbprint(host.GrpcPort) == second.Thumbprint,
                "new TLS connections served the rotated certificate");

            // The open stream finishes on its old connection; a new channel routes over the new certificate.
            Assert.Equal("10.0.0.9:8000", await Route(open));
            Assert.Equal(first.Thumbprint, oldSeen);
            string? newSeen = null;
            using var newChannel = TlsChannel(host.GrpcPort, t => newSeen = t);
            using var fresh = new EnvoyStream(new ExternalProcessor.ExternalProcessorClient(newChannel).Process());
            await fresh.SendRequestHeaders(false, EnvoyStream.ChatHeaders());
            Assert.Equal("10.0.0.9:8000", await Route(fresh));
            Assert.Equal(second.Thumbprint, newSeen);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
