using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FastEpp.Hosting;

/// <summary>
/// The ext_proc TLS certificate (spec runtime.md §3.3): tls.crt/tls.key from --cert-path, optionally
/// hot-reloaded (250 ms debounce, failures keep the old pair); else a self-signed RSA 4096 certificate
/// with O=Inference Ext, ten years, serverAuth — generated at every start.
/// </summary>
internal sealed class CertificateProvider : IDisposable
{
    private readonly string? _path;
    private readonly ILogger _logger;
    private FileSystemWatcher? _watcher;
    private Timer? _debounce;
    private X509Certificate2 _current;

    public CertificateProvider(string certPath, bool reload, ILogger logger)
    {
        _logger = logger;
        if (certPath.Length == 0)
        {
            _current = CreateSelfSigned();
            return;
        }
        _path = certPath;
        _current = Load(certPath);
        if (reload)
        {
            _debounce = new Timer(_ => Reload());
            _watcher = new FileSystemWatcher(certPath) { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime };
            _watcher.Changed += (_, _) => _debounce.Change(250, Timeout.Infinite);
            _watcher.Created += (_, _) => _debounce.Change(250, Timeout.Infinite);
            _watcher.Renamed += (_, _) => _debounce.Change(250, Timeout.Infinite);
            _watcher.EnableRaisingEvents = true;
        }
    }

    public X509Certificate2 Current => Volatile.Read(ref _current);

    private void Reload()
    {
        try
        {
            Volatile.Write(ref _current, Load(_path!));
            _logger.LogInformation("Reloaded TLS certificate from {Path}", _path);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Failed to reload TLS certificate from {Path}; keeping the previous one", _path);
        }
    }

    public static X509Certificate2 Load(string directory)
    {
        using var pem = X509Certificate2.CreateFromPemFile(Path.Combine(directory, "tls.crt"), Path.Combine(directory, "tls.key"));
        // Re-import so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    public static X509Certificate2 CreateSelfSigned()
    {
        using var rsa = RSA.Create(4096);
        var request = new CertificateRequest(new X500DistinguishedName("O=Inference Ext"), rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        Span<byte> serial = stackalloc byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f;
        using var cert = request.Create(request.SubjectName, X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
            now, now.AddDays(3650), serial);
        using var withKey = cert.CopyWithPrivateKey(rsa);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _debounce?.Dispose();
    }
}
