using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace FastEpp.Kubernetes;

/// <summary>
/// Where the API server is and how to authenticate to it. Built by <see cref="Load"/> in
/// controller-runtime's order: <c>KUBECONFIG</c> → in-cluster service account → <c>~/.kube/config</c>.
/// </summary>
internal sealed class KubeClientConfig
{
    public const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    public required Uri Server { get; init; }
    /// <summary>Roots to trust instead of the system store (kubeconfig CA or in-cluster ca.crt).</summary>
    public X509Certificate2Collection? CertificateAuthorities { get; init; }
    public bool InsecureSkipTlsVerify { get; init; }
    public string? TlsServerName { get; init; }
    public BearerTokenSource? Token { get; init; }
    public X509Certificate2? ClientCertificate { get; init; }
    /// <summary>Namespace of the context / service account, if known (informational).</summary>
    public string? Namespace { get; init; }
    /// <summary>Human-readable origin for logs ("in-cluster", "kubeconfig /path (context x)").</summary>
    public required string Origin { get; init; }

    /// <summary>Resolves the configuration; throws <see cref="KubeConfigException"/> when none is usable.</summary>
    public static KubeClientConfig Load(Func<string, string?>? getEnv = null, string? serviceAccountDirectory = null, string? homeDirectory = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        string? kubeconfig = getEnv("KUBECONFIG");
        if (!string.IsNullOrWhiteSpace(kubeconfig))
        {
            var paths = kubeconfig.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return KubeConfigFile.Load(paths);
        }

        if (TryInCluster(getEnv, serviceAccountDirectory ?? ServiceAccountDirectory, out var inCluster))
            return inCluster;

        string home = homeDirectory ?? getEnv("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string defaultPath = Path.Combine(home, ".kube", "config");
        if (File.Exists(defaultPath))
            return KubeConfigFile.Load([defaultPath]);

        throw new KubeConfigException(
            "no Kubernetes configuration: KUBECONFIG is not set, not running in a cluster (KUBERNETES_SERVICE_HOST/PORT and " +
            $"{ServiceAccountDirectory}/token), and {defaultPath} does not exist");
    }

    /// <summary>In-cluster config (client-go <c>rest.InClusterConfig</c>): env host/port + service-account files.</summary>
    public static bool TryInCluster(Func<string, string?> getEnv, string directory, out KubeClientConfig config)
    {
        config = null!;
        string? host = getEnv("KUBERNETES_SERVICE_HOST");
        string? port = getEnv("KUBERNETES_SERVICE_PORT");
        string tokenPath = Path.Combine(directory, "token");
        if (string.IsNullOrEmpty(host) || string.IsNullOrEmpty(port) || !File.Exists(tokenPath))
            return false;

        string hostPart = IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"[{host}]" : host;
        if (!Uri.TryCreate($"https://{hostPart}:{port}", UriKind.Absolute, out var server))
            throw new KubeConfigException($"invalid in-cluster API server address '{host}:{port}'");

        X509Certificate2Collection? cas = null;
        string caPath = Path.Combine(directory, "ca.crt");
        if (File.Exists(caPath))
        {
            cas = new X509Certificate2Collection();
            cas.ImportFromPemFile(caPath);
        }
        string nsPath = Path.Combine(directory, "namespace");
        string? ns = File.Exists(nsPath) ? File.ReadAllText(nsPath).Trim() : null;

        config = new KubeClientConfig
        {
            Server = server,
            CertificateAuthorities = cas,
            Token = BearerTokenSource.FromFile(tokenPath),
            Namespace = string.IsNullOrEmpty(ns) ? null : ns,
            Origin = "in-cluster",
        };
        return true;
    }

    /// <summary>
    /// The HTTP handler for this config: TLS roots/skip-verify and client certificate. HTTP/2 is
    /// allowed (the API server multiplexes all watches over one connection).
    /// </summary>
    public SocketsHttpHandler CreateHandler()
    {
        var ssl = new SslClientAuthenticationOptions();
        if (TlsServerName is not null)
            ssl.TargetHost = TlsServerName;
        if (InsecureSkipTlsVerify)
        {
            ssl.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
        else if (CertificateAuthorities is { Count: > 0 } cas)
        {
            // client-go: a configured CA replaces the system roots.
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(cas);
            ssl.CertificateChainPolicy = policy;
        }
        if (ClientCertificate is not null)
            ssl.ClientCertificates = new X509CertificateCollection { ClientCertificate };

        return new SocketsHttpHandler
        {
            SslOptions = ssl,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(15),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            EnableMultipleHttp2Connections = true,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
        };
    }
}
