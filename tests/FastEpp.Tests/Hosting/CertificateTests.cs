using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FastEpp.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.Hosting;

public sealed class CertificateTests
{
    private static void WritePair(string dir, X509Certificate2 cert)
    {
        File.WriteAllText(Path.Combine(dir, "tls.crt"), cert.ExportCertificatePem());
        File.WriteAllText(Path.Combine(dir, "tls.key"), cert.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    [Fact]
    public void SelfSigned_MatchesReferenceShape()
    {
        using var cert = CertificateProvider.CreateSelfSigned();
        Assert.Equal("O=Inference Ext", cert.Subject);
        Assert.Equal(4096, cert.GetRSAPublicKey()!.KeySize);
        Assert.True(cert.NotAfter > DateTime.UtcNow.AddDays(3600));
        Assert.Contains(cert.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>(), o => o.Value == "1.3.6.1.5.5.7.3.1");
        Assert.True(cert.HasPrivateKey);
    }

    [Fact]
    public async Task CertPath_LoadsPair_AndReloadsOnChange_KeepingOldOnGarbage()
    {
        var dir = Directory.CreateTempSubdirectory("fastepp-cert").FullName;
        try
        {
            using var first = CertificateProvider.CreateSelfSigned();
            using var second = CertificateProvider.CreateSelfSigned();
            WritePair(dir, first);
            using var provider = new CertificateProvider(dir, reload: true, NullLogger.Instance);
            Assert.Equal(first.Thumbprint, provider.Current.Thumbprint);

            File.WriteAllText(Path.Combine(dir, "tls.crt"), "garbage");
            await Task.Delay(600);
            Assert.Equal(first.Thumbprint, provider.Current.Thumbprint); // failure keeps the old pair

            WritePair(dir, second);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (provider.Current.Thumbprint != second.Thumbprint && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            Assert.Equal(second.Thumbprint, provider.Current.Thumbprint);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CertPath_Missing_Throws() =>
        Assert.ThrowsAny<Exception>(() => new CertificateProvider("/nonexistent-dir", false, NullLogger.Instance));
}
