using System.Security.Cryptography.X509Certificates;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Kubernetes;

/// <summary>
/// Reads kubeconfig files with YamlDotNet's representation model (no reflection, AOT-safe).
/// Several files (KUBECONFIG list) merge as in client-go: the first file to define a named
/// cluster/user/context or the current-context wins. Relative paths resolve against the file
/// that names them. Supported: server, certificate-authority(-data), insecure-skip-tls-verify,
/// tls-server-name, token, tokenFile, client-certificate(-data), client-key(-data).
/// </summary>
internal static class KubeConfigFile
{
    private sealed record Entry(YamlMappingNode Node, string Directory);

    public static KubeClientConfig Load(IReadOnlyList<string> paths)
    {
        var clusters = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var users = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var contexts = new Dictionary<string, Entry>(StringComparer.Ordinal);
        string? current = null;
        string? currentFile = null;
        bool anyFile = false;

        foreach (string path in paths)
        {
            if (!File.Exists(path))
                continue; // client-go skips missing entries of a KUBECONFIG list
            anyFile = true;
            var root = Parse(path);
            if (root is null)
                continue;
            string dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
            if (current is null && Scalar(root, "current-context") is { Length: > 0 } cc)
            {
                current = cc;
                currentFile = path;
            }
            Collect(root, "clusters", "cluster", dir, clusters);
            Collect(root, "users", "user", dir, users);
            Collect(root, "contexts", "context", dir, contexts);
        }

        string list = string.Join(Path.PathSeparator, paths);
        if (!anyFile)
            throw new KubeConfigException($"kubeconfig not found: {list}");
        if (current is null)
            throw new KubeConfigException($"kubeconfig {list} has no current-context");
        if (!contexts.TryGetValue(current, out var context))
            throw new KubeConfigException($"kubeconfig {list}: context '{current}' not found");

        string? clusterName = Scalar(context.Node, "cluster");
        if (clusterName is null || !clusters.TryGetValue(clusterName, out var cluster))
            throw new KubeConfigException($"kubeconfig {list}: cluster '{clusterName}' of context '{current}' not found");
        Entry? user = null;
        string? userName = Scalar(context.Node, "user");
        if (userName is not null && !users.TryGetValue(userName, out user))
            throw new KubeConfigException($"kubeconfig {list}: user '{userName}' of context '{current}' not found");

        string? serverText = Scalar(cluster.Node, "server");
        if (string.IsNullOrEmpty(serverText) || !Uri.TryCreate(serverText, UriKind.Absolute, out var server)
            || (server.Scheme != Uri.UriSchemeHttps && server.Scheme != Uri.UriSchemeHttp))
            throw new KubeConfigException($"kubeconfig {list}: cluster '{clusterName}' has no valid server URL ('{serverText}')");

        X509Certificate2Collection? cas = null;
        if (Scalar(cluster.Node, "certificate-authority-data") is { Length: > 0 } caData)
        {
            cas = new X509Certificate2Collection();
            cas.ImportFromPem(DecodeBase64(caData, "certificate-authority-data"));
        }
        else if (Scalar(cluster.Node, "certificate-authority") is { Length: > 0 } caFile)
        {
            cas = new X509Certificate2Collection();
            cas.ImportFromPemFile(Resolve(cluster.Directory, caFile));
        }

        BearerTokenSource? token = null;
        X509Certificate2? clientCert = null;
        if (user is not null)
        {
            if (user.Node.Children.ContainsKey("exec") || user.Node.Children.ContainsKey("auth-provider"))
                throw new KubeConfigException($"kubeconfig {list}: user '{userName}' uses exec/auth-provider credentials, which FastEpp does not support; use a token or client certificate");
            if (Scalar(user.Node, "token") is { Length: > 0 } t)
                token = BearerTokenSource.FromValue(t);
            else if (Scalar(user.Node, "tokenFile") is { Length: > 0 } tf)
                token = BearerTokenSource.FromFile(Resolve(user.Directory, tf));

            string? certPem = Scalar(user.Node, "client-certificate-data") is { Length: > 0 } cd
                ? DecodeBase64(cd, "client-certificate-data")
                : Scalar(user.Node, "client-certificate") is { Length: > 0 } cf ? File.ReadAllText(Resolve(user.Directory, cf)) : null;
            string? keyPem = Scalar(user.Node, "client-key-data") is { Length: > 0 } kd
                ? DecodeBase64(kd, "client-key-data")
                : Scalar(user.Node, "client-key") is { Length: > 0 } kf ? File.ReadAllText(Resolve(user.Directory, kf)) : null;
            if (certPem is not null || keyPem is not null)
            {
                if (certPem is null || keyPem is null)
                    throw new KubeConfigException($"kubeconfig {list}: user '{userName}' needs both a client certificate and a client key");
                try
                {
                    clientCert = X509Certificate2.CreateFromPem(certPem, keyPem);
                }
                catch (System.Security.Cryptography.CryptographicException ex)
                {
                    throw new KubeConfigException($"kubeconfig {list}: invalid client certificate/key for user '{userName}'", ex);
                }
            }
        }

        return new KubeClientConfig
        {
            Server = server,
            CertificateAuthorities = cas,
            InsecureSkipTlsVerify = string.Equals(Scalar(cluster.Node, "insecure-skip-tls-verify"), "true", StringComparison.OrdinalIgnoreCase),
            TlsServerName = Scalar(cluster.Node, "tls-server-name") is { Length: > 0 } sn ? sn : null,
            Token = token,
            ClientCertificate = clientCert,
            Namespace = Scalar(context.Node, "namespace") is { Length: > 0 } ns ? ns : null,
            Origin = $"kubeconfig {currentFile} (context {current})",
        };
    }

    private static YamlMappingNode? Parse(string path)
    {
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8);
            var stream = new YamlStream();
            stream.Load(reader);
            if (stream.Documents.Count == 0)
                return null;
            return stream.Documents[0].RootNode as YamlMappingNode
                ?? throw new KubeConfigException($"kubeconfig {path}: top level is not a mapping");
        }
        catch (Exception ex) when (ex is YamlDotNet.Core.YamlException or InvalidOperationException or ArgumentException)
        {
            // YamlDotNet throws InvalidOperationException / ArgumentException on some malformed input (found by the fuzzer).
            throw new KubeConfigException($"kubeconfig {path}: invalid YAML: {ex.Message}", ex);
        }
    }

    private static void Collect(YamlMappingNode root, string listKey, string itemKey, string dir, Dictionary<string, Entry> into)
    {
        if (!root.Children.TryGetValue(new YamlScalarNode(listKey), out var node) || node is not YamlSequenceNode seq)
            return;
        foreach (var item in seq.Children)
        {
            if (item is not YamlMappingNode map || Scalar(map, "name") is not { Length: > 0 } name)
                continue;
            if (map.Children.TryGetValue(new YamlScalarNode(itemKey), out var body) && body is YamlMappingNode bodyMap)
                into.TryAdd(name, new Entry(bodyMap, dir));
        }
    }

    private static string? Scalar(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) && node is YamlScalarNode s ? s.Value : null;

    private static string Resolve(string dir, string path) => Path.IsPathRooted(path) ? path : Path.Combine(dir, path);

    private static string DecodeBase64(string value, string field)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(value.Trim()));
        }
        catch (FormatException ex)
        {
            throw new KubeConfigException($"kubeconfig: {field} is not valid base64", ex);
        }
    }
}
