using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastEpp.Kubernetes;
using Microsoft.Extensions.Time.Testing;

namespace FastEpp.Tests.Kubernetes;

public sealed class KubeClientConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fastepp-kubeconfig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static (string CertPem, string KeyPem) SelfSigned(string cn)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={cn}", key, HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return (cert.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Key == name).Value;

    [Fact]
    public void Load_KubeconfigWithCaDataAndClientCertData_BuildsTlsConfig()
    {
        var ca = SelfSigned("ca");
        var client = SelfSigned("client");
        string path = Write("config", $$"""
            apiVersion: v1
            kind: Config
            current-context: prod
            contexts:
            - name: dev
              context: {cluster: dev, user: dev}
            - name: prod
              context:
                cluster: prod-cluster
                user: prod-user
                namespace: inference
            clusters:
            - name: prod-cluster
              cluster:
                server: https://10.1.2.3:6443
                certificate-authority-data: {{B64(ca.CertPem)}}
                tls-server-name: kubernetes.default
            users:
            - name: prod-user
              user:
                client-certificate-data: {{B64(client.CertPem)}}
                client-key-data: {{B64(client.KeyPem)}}
            """);

        var config = KubeClientConfig.Load(Env(("KUBECONFIG", path)));
        Assert.Equal(new Uri("https://10.1.2.3:6443"), config.Server);
        Assert.Equal("inference", config.Namespace);
        Assert.Equal("kubernetes.default", config.TlsServerName);
        Assert.Single(config.CertificateAuthorities!);
        Assert.Equal("CN=ca", config.CertificateAuthorities![0].Subject);
        Assert.NotNull(config.ClientCertificate);
        Assert.True(config.ClientCertificate!.HasPrivateKey);
        Assert.Null(config.Token);
        Assert.False(config.InsecureSkipTlsVerify);
        Assert.Contains("context prod", config.Origin);
        using var handler = config.CreateHandler();
        Assert.Equal(X509ChainTrustMode.CustomRootTrust, handler.SslOptions.CertificateChainPolicy!.TrustMode);
    }

    [Fact]
    public void Load_RelativeFilePathsAndTokenFile_ResolveAgainstTheKubeconfigDirectory()
    {
        var ca = SelfSigned("ca");
        Write("sub/ca.crt", ca.CertPem);
        Write("sub/token", "file-token\n");
        string path = Write("sub/config", """
            current-context: c
            contexts:
            - name: c
              context: {cluster: k, user: u}
            clusters:
            - name: k
              cluster: {server: "https://k8s.example:443", certificate-authority: ca.crt}
            users:
            - name: u
              user: {tokenFile: token}
            """);
        var config = KubeClientConfig.Load(Env(("KUBECONFIG", path)));
        Assert.Equal("CN=ca", config.CertificateAuthorities![0].Subject);
        Assert.Equal("file-token", config.Token!.GetToken());
    }

    [Fact]
    public void Load_KubeconfigList_FirstFileWinsAndMissingFilesAreSkipped()
    {
        string first = Write("a", """
            current-context: one
            users:
            - name: u
              user: {token: first-token}
            """);
        string second = Write("b", """
            current-context: two
            contexts:
            - name: one
              context: {cluster: k, user: u}
            clusters:
            - name: k
              cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}
            users:
            - name: u
              user: {token: second-token}
            """);
        string list = string.Join(Path.PathSeparator, Path.Combine(_dir, "missing"), first, second);
        var config = KubeClientConfig.Load(Env(("KUBECONFIG", list)));
        Assert.Equal("first-token", config.Token!.GetToken());
        Assert.True(config.InsecureSkipTlsVerify);
        Assert.Equal(new Uri("http://127.0.0.1:8080"), config.Server);
    }

    [Theory]
    [InlineData("current-context: x\ncontexts: []\n", "context 'x' not found")]
    [InlineData("contexts: []\n", "no current-context")]
    [InlineData("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster: {server: 'https://h:1'}\nusers:\n- name: u\n  user:\n    exec: {command: aws}\n", "exec")]
    [InlineData("current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\nclusters:\n- name: k\n  cluster: {server: 'ftp://h'}\n", "no valid server")]
    [InlineData("current-context: c\n  bad: [indent\n", "invalid YAML")]
    [InlineData("- just\n- a list\n", "not a mapping")]
    public void Load_BadKubeconfig_ThrowsWithAClearMessage(string yaml, string expected)
    {
        string path = Write("bad", yaml);
        var ex = Assert.Throws<KubeConfigException>(() => KubeClientConfig.Load(Env(("KUBECONFIG", path))));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Load_Order_KubeconfigEnvThenInClusterThenHomeConfig()
    {
        var ca = SelfSigned("cluster-ca");
        string sa = Path.Combine(_dir, "sa");
        Write("sa/token", "sa-token");
        Write("sa/ca.crt", ca.CertPem);
        Write("sa/namespace", "epp-ns");
        string home = Path.Combine(_dir, "home");
        Write("home/.kube/config", """
            current-context: c
            contexts:
            - name: c
              context: {cluster: k, user: u}
            clusters:
            - name: k
              cluster: {server: "https://home:6443"}
            users:
            - name: u
              user: {token: home-token}
            """);
        string envConfig = Write("env-config", """
            current-context: c
            contexts:
            - name: c
              context: {cluster: k}
            clusters:
            - name: k
              cluster: {server: "https://env:6443"}
            """);
        var inCluster = new[] { ("KUBERNETES_SERVICE_HOST", "fd00::1"), ("KUBERNETES_SERVICE_PORT", "443") };

        var fromEnv = KubeClientConfig.Load(Env([("KUBECONFIG", envConfig), .. inCluster]), sa, home);
        Assert.Equal("env", fromEnv.Server.Host);

        var fromCluster = KubeClientConfig.Load(Env(inCluster), sa, home);
        Assert.Equal("in-cluster", fromCluster.Origin);
        Assert.Equal(new Uri("https://[fd00::1]:443"), fromCluster.Server);
        Assert.Equal("sa-token", fromCluster.Token!.GetToken());
        Assert.Equal("epp-ns", fromCluster.Namespace);
        Assert.Equal("CN=cluster-ca", fromCluster.CertificateAuthorities![0].Subject);

        var fromHome = KubeClientConfig.Load(Env(), sa, home);
        Assert.Equal("home", fromHome.Server.Host);

        var ex = Assert.Throws<KubeConfigException>(() => KubeClientConfig.Load(Env(), sa, Path.Combine(_dir, "nohome")));
        Assert.Contains("no Kubernetes configuration", ex.Message);
    }

    [Fact]
    public void BearerTokenSource_File_IsReReadAfterOneMinute()
    {
        string path = Write("token", "old");
        var time = new FakeTimeProvider();
        var source = BearerTokenSource.FromFile(path, time);
        Assert.Equal("old", source.GetToken());

        File.WriteAllText(path, "rotated");
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal("old", source.GetToken());
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("rotated", source.GetToken());

        File.Delete(path); // mid-rotation: keep the last good token
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal("rotated", source.GetToken());
    }

    [Fact]
    public async Task Client_SendsTheKubeconfigBearerToken()
    {
        await using var h = await KubeTestHarness.StartAsync();
        var (items, rv) = await h.Client.ListAsync(FakeKubeApiServer.Pods("ns1"), "app=vllm", null, KubeJsonContext.Default.KubeListPod, CancellationToken.None);
        Assert.Empty(items);
        Assert.False(string.IsNullOrEmpty(rv));
        Assert.Equal("Bearer " + FakeKubeApiServer.Token, h.Server.LastAuthorization);
        Assert.Equal(0, h.Server.UnauthorizedRequests);
    }

    [Fact]
    public async Task Client_WrongToken_IsUnauthorized()
    {
        await using var h = await KubeTestHarness.StartAsync();
        var config = new KubeClientConfig { Server = h.Server.BaseAddress, Token = BearerTokenSource.FromValue("wrong"), Origin = "test" };
        using var client = new KubeApiClient(config);
        var ex = await Assert.ThrowsAsync<KubeApiException>(() =>
            client.ListAsync(FakeKubeApiServer.Pods("ns1"), null, null, KubeJsonContext.Default.KubeListPod, CancellationToken.None));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, ex.StatusCode);
        Assert.Equal(1, h.Server.UnauthorizedRequests);
    }
}
