using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using FastEpp.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

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
            var reloads = Channel.CreateUnbounded<bool>();
            provider.Reloaded += ok => reloads.Writer.TryWrite(ok);
            Assert.Equal(first.Thumbprint, provider.Current.Thumbprint);

            // Each step waits for the reload the watcher triggered (a positive event), never for a fixed time.
            File.WriteAllText(Path.Combine(dir, "tls.crt"), "garbage");
            Assert.False(await NextReload(reloads));                     // the watcher saw it and the reload ran…
            Assert.Equal(first.Thumbprint, provider.Current.Thumbprint); // …and failed, keeping the old pair

            WritePair(dir, second);
            while (!await NextReload(reloads))
            {
                // a reload may have read the pair half-written; the debounce of the last write reads it whole
            }
            Assert.Equal(second.Thumbprint, provider.Current.Thumbprint);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CertPath_BurstOfChanges_ReloadsOnceAfterTheQuietPeriod()
    {
        var dir = Directory.CreateTempSubdirectory("fastepp-cert").FullName;
        try
        {
            using var cert = CertificateProvider.CreateSelfSigned();
            WritePair(dir, cert);
            // The files are not touched, so only the test's explicit signals arm the debounce, on a fake clock.
            var time = new FakeTimeProvider();
            using var provider = new CertificateProvider(dir, reload: true, NullLogger.Instance, time);
            var reloads = new List<bool>();
            provider.Reloaded += reloads.Add; // runs inside Advance, on the test thread

            provider.OnFilesChanged();
            time.Advance(TimeSpan.FromMilliseconds(200));
            provider.OnFilesChanged();                       // a second event restarts the 250 ms wait
            time.Advance(TimeSpan.FromMilliseconds(249));
            Assert.Empty(reloads);
            time.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Equal([true], reloads);
            time.Advance(TimeSpan.FromSeconds(10));
            Assert.Equal([true], reloads);                   // once per burst
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static async Task<bool> NextReload(Channel<bool> reloads) =>
        await reloads.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    [Fact]
    public void CertPath_Missing_Throws() =>
        Assert.ThrowsAny<Exception>(() => new CertificateProvider("/nonexistent-dir", false, NullLogger.Instance));
}
