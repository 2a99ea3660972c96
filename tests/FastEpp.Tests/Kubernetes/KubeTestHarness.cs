using FastEpp.Endpoints;
using FastEpp.Kubernetes;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Tests.Kubernetes;

/// <summary>
/// One fake API server plus a real <see cref="KubeApiClient"/> configured through a kubeconfig file
/// in a temp directory (bearer token), as a deployment outside the cluster would be.
/// </summary>
internal sealed class KubeTestHarness : IAsyncDisposable
{
    public static readonly InformerOptions FastInformer = new()
    {
        BackoffInitial = TimeSpan.FromMilliseconds(20),
        BackoffMax = TimeSpan.FromMilliseconds(200),
        MinWatchTimeoutSeconds = 60,
    };

    private readonly string _dir;

    private KubeTestHarness(FakeKubeApiServer server, string dir, KubeClientConfig config)
    {
        Server = server;
        _dir = dir;
        Config = config;
        Client = new KubeApiClient(config);
    }

    public FakeKubeApiServer Server { get; }
    public KubeClientConfig Config { get; }
    public KubeApiClient Client { get; }
    public EndpointRegistry Registry { get; } = new();
    public string KubeconfigPath => Path.Combine(_dir, "kubeconfig");

    public static async Task<KubeTestHarness> StartAsync()
    {
        var server = await FakeKubeApiServer.StartAsync();
        string dir = Directory.CreateTempSubdirectory("fastepp-k8s-").FullName;
        string path = server.WriteKubeconfig(dir);
        var config = KubeClientConfig.Load(name => name == "KUBECONFIG" ? path : null);
        return new KubeTestHarness(server, dir, config);
    }

    public string[] EndpointNames() => Registry.Current.Endpoints.Select(e => e.Name).ToArray();

    public string[] HostPorts() => Registry.Current.Endpoints.Select(e => e.HostPort).ToArray();

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static NullLogger Logger => NullLogger.Instance;
}
