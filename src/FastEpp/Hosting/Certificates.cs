using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FastEpp.Hosting;

/// <summary>
/// The ext_proc TLS certificate (spec runtime.md §3.3): tls.crt/tls.key from --cert-path, optionally
/// hot-reloaded (250 ms debounce, failures keep the old pair); else a self-signed RSA 4096 certificate
/// with O=Inference Ext, ten years, serverAuth — generated at every start, in the background once the ports listen
/// (<see cref="StartSelfSigned"/>): an RSA 4096 key takes 0.2–2 s of CPU, so the listeners open at once and only a
/// handshake that arrives before the key is ready waits for it.
/// </summary>
internal sealed class CertificateProvider : IDisposable
{
    private static readonly TimeSpan s_debounce = TimeSpan.FromMilliseconds(250);

    private readonly string? _path;
    private readonly ILogger _logger;
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;
    private X509Certificate2? _current;
    private readonly bool _generate;
    private Task<X509Certificate2>? _selfSigned;

    /// <param name="time">Drives the debounce (tests pass a fake clock and advance it instead of sleeping).</param>
    public CertificateProvider(string certPath, bool reload, ILogger logger, TimeProvider? time = null)
    {
        _logger = logger;
        if (certPath.Length == 0)
        {
            _generate = true;
            return;
        }
        _path = certPath;
        _current = Load(certPath);
        if (reload)
        {
            _debounce = (time ?? TimeProvider.System).CreateTimer(static state => ((CertificateProvider)state!).Reload(), this,
                Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _watcher = new FileSystemWatcher(certPath) { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime };
            _watcher.Changed += (_, _) => OnFilesChanged();
            _watcher.Created += (_, _) => OnFilesChanged();
            _watcher.Renamed += (_, _) => OnFilesChanged();
            _watcher.EnableRaisingEvents = true;
        }
    }

    public X509Certificate2 Current => Volatile.Read(ref _current) ?? SelfSigned();

    /// <summary>Starts generating the self-signed certificate in the background (no-op with --cert-path or when
    /// started). The host calls it once the ports listen, so the key does not compete with start-up for the CPU.</summary>
    public void StartSelfSigned()
    {
        if (!_generate || Volatile.Read(ref _selfSigned) is not null)
            return;
        var task = new Task<X509Certificate2>(CreateSelfSigned);
        if (Interlocked.CompareExchange(ref _selfSigned, task, null) is not null)
            return;
        task.ContinueWith(static (t, state) => ((ILogger)state!).LogError(t.Exception, "Failed to create the self-signed TLS certificate"),
            _logger, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        task.Start(TaskScheduler.Default);
    }

    private X509Certificate2 SelfSigned()
    {
        StartSelfSigned(); // a handshake that arrives before the host started the key
        var certificate = _selfSigned!.GetAwaiter().GetResult(); // once: the first handshake(s) before the key is ready
        Volatile.Write(ref _current, certificate);
        return certificate;
    }

    /// <summary>Raised after each reload: true = the new pair is in use, false = it failed and the old one is kept.</summary>
    internal event Action<bool>? Reloaded;

    /// <summary>What the watcher calls on every event: (re)starts the debounce, so a burst of writes reloads once.</summary>
    internal void OnFilesChanged() => _debounce?.Change(s_debounce, Timeout.InfiniteTimeSpan);

    private void Reload()
    {
        bool ok;
        try
        {
            Volatile.Write(ref _current, Load(_path!));
            _logger.LogInformation("Reloaded TLS certificate from {Path}", _path);
            ok = true;
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Failed to reload TLS certificate from {Path}; keeping the previous one", _path);
            ok = false;
        }
        Reloaded?.Invoke(ok);
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
