using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using FastEpp.Hosting;
using FastEpp.Observability;
using FastEpp.Tests.Kubernetes;
using Microsoft.Extensions.Logging.Abstractions;
using YamlDotNet.RepresentationModel;
using static FastEpp.Tests.Kubernetes.KubeTestObjects;

namespace FastEpp.Tests.Operations;

/// <summary>
/// deploy/ (issue 12 §2): the manifests parse, the RBAC is exactly the API calls the EPP makes (recorded from a real
/// run against the in-test API server), the Deployment is hardened and shaped like the reference chart's, and every
/// argument combination the reference chart passes is accepted by our flags.
/// </summary>
public sealed partial class DeployTests
{
    internal static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FastEpp.sln")))
                return dir.FullName;
        throw new InvalidOperationException("FastEpp.sln not found above " + AppContext.BaseDirectory);
    }

    private static string DeployDir => Path.Combine(RepoRoot, "deploy");

    private static List<YamlMappingNode> Documents(string file)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(DeployDir, file))));
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    /// <summary>Every document of every file kustomization.yaml lists.</summary>
    private static List<YamlMappingNode> AllManifests() =>
        Resources().SelectMany(Documents).ToList();

    private static string[] Resources() =>
        ((YamlSequenceNode)Documents("kustomization.yaml")[0]["resources"]).Children.Select(n => n.ToString()).ToArray();

    private static YamlNode At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
            node = ((YamlMappingNode)node)[key];
        return node;
    }

    private static string Str(YamlNode node, params string[] path) => At(node, path).ToString();

    private static string[] Strings(YamlNode node) => ((YamlSequenceNode)node).Children.Select(c => c.ToString()).ToArray();

    private static YamlMappingNode Kind(string kind, string? file = null) =>
        Assert.Single(file is null ? AllManifests() : Documents(file), d => Str(d, "kind") == kind);

    [Fact]
    public void Kustomization_ListsEveryManifest_AndEachIsAKubernetesObject()
    {
        var listed = Resources();
        var onDisk = Directory.GetFiles(DeployDir, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order().ToArray();
        Assert.Equal(onDisk, listed.Order().ToArray()); // examples/ holds what is deliberately left out
        var kinds = AllManifests().Select(d =>
        {
            Assert.False(string.IsNullOrEmpty(Str(d, "apiVersion")));
            Assert.False(string.IsNullOrEmpty(Str(d, "metadata", "name")));
            return Str(d, "kind");
        }).Order().ToArray();
        Assert.Equal(["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding",
            "Secret", "Service", "ServiceAccount", "ServiceMonitor"], kinds);
    }

    [Fact]
    public void Deployment_IsHardened_WithTheChartsProbesPortsAndEnv()
    {
        var deployment = Kind("Deployment");
        var pod = At(deployment, "spec", "template", "spec");
        Assert.Equal("RuntimeDefault", Str(pod, "securityContext", "seccompProfile", "type"));
        Assert.Equal("65532", Str(pod, "securityContext", "runAsUser"));
        Assert.Equal("true", Str(pod, "securityContext", "runAsNonRoot"));
        Assert.Equal("130", Str(pod, "terminationGracePeriodSeconds"));
        Assert.Equal("Recreate", Str(deployment, "spec", "strategy", "type"));
        var container = (YamlMappingNode)Assert.Single(((YamlSequenceNode)At(pod, "containers")).Children);
        Assert.Equal("true", Str(container, "securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("false", Str(container, "securityContext", "allowPrivilegeEscalation"));
        Assert.Equal(["ALL"], Strings(At(container, "securityContext", "capabilities", "drop")));
        foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
        {
            Assert.Equal("9003", Str(container, probe, "grpc", "port"));
            Assert.Equal("inference-extension", Str(container, probe, "grpc", "service"));
        }
        Assert.Equal("5", Str(container, "livenessProbe", "initialDelaySeconds"));
        Assert.Equal("2", Str(container, "readinessProbe", "periodSeconds"));
        var ports = ((YamlSequenceNode)At(container, "ports")).Children.ToDictionary(p => Str(p, "name"), p => Str(p, "containerPort"));
        Assert.Equal(new Dictionary<string, string> { ["grpc"] = "9002", ["grpc-health"] = "9003", ["metrics"] = "9090" }, ports);
        var env = ((YamlSequenceNode)At(container, "env")).Children.Select(e => Str(e, "name")).ToArray();
        Assert.Equal(["NAMESPACE", "POD_NAME"], env);
        Assert.True(((YamlMappingNode)At(container, "resources", "requests")).Children.Count == 2);
        Assert.False(string.IsNullOrEmpty(Str(container, "resources", "limits", "memory")));

        // The arguments are ours to parse: accepted, valid, and the config file they name is the ConfigMap's key.
        var args = Strings(At(container, "args"));
        var options = EppOptions.Parse(args);
        Assert.Null(options.Validate());
        Assert.Equal("/config/default-plugins.yaml", options.ConfigFile);
        var mount = Assert.Single(((YamlSequenceNode)At(container, "volumeMounts")).Children, m => Str(m, "mountPath") == "/config");
        var volume = Assert.Single(((YamlSequenceNode)At(pod, "volumes")).Children, v => Str(v, "name") == Str(mount, "name"));
        Assert.Equal(Str(Kind("ConfigMap"), "metadata", "name"), Str(volume, "configMap", "name"));
    }

    [Fact]
    public async Task ConfigMap_DefaultPlugins_LoadsAndServes()
    {
        string config = Str(Kind("ConfigMap"), "data", "default-plugins.yaml");
        var options = EppOptions.Parse(["--endpoints", "127.0.0.1:1", "--secure-serving=false", "--bind-address", "127.0.0.1",
            "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0", "--tracing=false", "--config-text", config]);
        await using var host = await EppHost.StartAsync(options, NullLoggerFactory.Instance);
        Assert.True(host.GrpcPort > 0);
    }

    [Fact]
    public void ServiceAndServiceMonitor_MatchTheDeployment()
    {
        var service = Kind("Service");
        var ports = ((YamlSequenceNode)At(service, "spec", "ports")).Children.ToDictionary(p => Str(p, "name"), p => Str(p, "port"));
        Assert.Equal(new Dictionary<string, string> { ["grpc-ext-proc"] = "9002", ["http-metrics"] = "9090" }, ports);
        var podLabels = (YamlMappingNode)At(Kind("Deployment"), "spec", "template", "metadata", "labels");
        foreach (var (key, value) in (YamlMappingNode)At(service, "spec", "selector"))
            Assert.Equal(value.ToString(), podLabels[key].ToString());
        var monitorEndpoint = ((YamlSequenceNode)At(Kind("ServiceMonitor"), "spec", "endpoints")).Children[0];
        Assert.Equal("http-metrics", Str(monitorEndpoint, "port"));
        Assert.Equal(Str(Kind("Secret"), "metadata", "name"), Str(monitorEndpoint, "authorization", "credentials", "name"));
        Assert.Equal(Str(Kind("ServiceAccount"), "metadata", "name"), Str(Kind("Secret"), "metadata", "annotations", "kubernetes.io/service-account.name"));
    }

    // ---- RBAC: recorded from a real run ----

    [GeneratedRegex(@"^/api/v1/namespaces/[^/]+/(?<resource>[^/?]+)(?<name>/[^/?]+)?$")]
    private static partial Regex CoreNamespaced();

    [GeneratedRegex(@"^/apis/(?<group>[^/]+)/[^/]+/namespaces/[^/]+/(?<resource>[^/?]+)(?<name>/[^/?]+)?$")]
    private static partial Regex GroupNamespaced();

    [GeneratedRegex(@"^/apis/(?<group>[^/]+)/[^/]+/(?<resource>[^/?]+)(?<name>/[^/?]+)?$")]
    private static partial Regex GroupCluster();

    [GeneratedRegex(@"^/apis/[^/]+/[^/]+$")]
    private static partial Regex Discovery();

    /// <summary>Maps "METHOD /path?query" to the RBAC (group, resource, verb) it needs, as the API server's authorizer does.</summary>
    internal static (string Group, string Resource, string Verb)? Authorization(string request)
    {
        int space = request.IndexOf(' ');
        string method = request[..space];
        string target = request[(space + 1)..];
        int q = target.IndexOf('?');
        string path = q >= 0 ? target[..q] : target;
        bool watch = q >= 0 && target[q..].Contains("watch=true", StringComparison.Ordinal);
        if (Discovery().IsMatch(path))
            return null; // API discovery: a non-resource GET every authenticated user may make (system:discovery)
        var m = CoreNamespaced().Match(path);
        string group = "";
        if (!m.Success)
        {
            m = GroupNamespaced().Match(path);
            if (!m.Success)
                m = GroupCluster().Match(path);
            Assert.True(m.Success, "unrecognised API path " + path);
            group = m.Groups["group"].Value;
        }
        bool named = m.Groups["name"].Success;
        string verb = method switch
        {
            "GET" when watch => "watch",
            "GET" => named ? "get" : "list",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => named ? "delete" : "deletecollection",
            _ => throw new InvalidOperationException(method),
        };
        return (group, m.Groups["resource"].Value, verb);
    }

    private static HashSet<(string, string, string)> Granted(out List<(string Url, string Verb)> nonResource)
    {
        var granted = new HashSet<(string, string, string)>();
        nonResource = [];
        foreach (var doc in Documents("rbac.yaml").Where(d => Str(d, "kind") is "Role" or "ClusterRole"))
        {
            foreach (var rule in ((YamlSequenceNode)At(doc, "rules")).Children.Cast<YamlMappingNode>())
            {
                if (rule.Children.ContainsKey("nonResourceURLs"))
                {
                    foreach (var url in Strings(rule["nonResourceURLs"]))
                        foreach (var verb in Strings(rule["verbs"]))
                            nonResource.Add((url, verb));
                    continue;
                }
                foreach (var g in Strings(rule["apiGroups"]))
                    foreach (var r in Strings(rule["resources"]))
                        foreach (var v in Strings(rule["verbs"]))
                            Assert.True(granted.Add((g, r, v)), $"duplicate grant {g}/{r} {v}");
            }
        }
        return granted;
    }

    [Fact]
    public async Task Rbac_IsExactlyWhatTheEppCalls_RecordedFromARun()
    {
        await using var h = await KubeTestHarness.StartAsync();
        h.Server.TokenUsers["prom-token"] = "system:serviceaccount:ns1:fastepp";
        h.Server.NonResourceGrants[("system:serviceaccount:ns1:fastepp", "/metrics", "get")] = true;
        h.Server.Upsert(FakeKubeApiServer.Pods("ns1"), Pod("vllm-0", "10.9.0.1"));
        h.Server.Upsert(FakeKubeApiServer.Pools("ns1"), Pool("pool1", new() { ["app"] = "vllm" }, [8000]));

        // Every feature that talks to the API server: pool mode, leader election, metrics authentication.
        var options = EppOptions.Parse(["--pool-name", "pool1", "--pool-namespace", "ns1", "--secure-serving=false", "--tracing=false",
            "--bind-address", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0",
            "--ha-enable-leader-election", "--metrics-endpoint-auth=true"]);
        var host = await EppHost.StartAsync(options, NullLoggerFactory.Instance, kubeConfig: h.Config);
        try
        {
            await Wait.UntilAsync(() => host.Registry.Current.Count == 1, "the pool's endpoint (leader reconciling)");
            await Wait.UntilAsync(() => h.Server.RequestLog.Count(r => r.Contains("watch=true", StringComparison.Ordinal)) >= 4,
                "watches of pods, pools, objectives and rewrites");
            await Wait.UntilAsync(() => h.Server.RequestLog.Any(r => r.StartsWith("POST /apis/coordination.k8s.io/", StringComparison.Ordinal)),
                "the lease created (leader)");
            using var http = new HttpClient();
            using var scrape = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{host.MetricsPort}/metrics");
            scrape.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "prom-token");
            using var response = await http.SendAsync(scrape);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            await host.DisposeAsync(); // releases the lease (an update)
        }

        var used = h.Server.RequestLog.Select(Authorization).OfType<(string, string, string)>().ToHashSet();
        var granted = Granted(out var nonResource);
        Assert.Equal(granted.Order().ToArray(), used.Order().ToArray());
        // The one non-resource grant: the ServiceMonitor scrapes with this service account's token, and our own
        // SubjectAccessReview then asks whether it may GET /metrics.
        Assert.Equal([("/metrics", "get")], nonResource);
    }

    [Theory]
    [InlineData("GET /api/v1/namespaces/ns1/pods?labelSelector=app%3Dvllm", "", "pods", "list")]
    [InlineData("GET /api/v1/namespaces/ns1/pods?watch=true&allowWatchBookmarks=true", "", "pods", "watch")]
    [InlineData("GET /apis/coordination.k8s.io/v1/namespaces/ns1/leases/epp-ns1-pool1", "coordination.k8s.io", "leases", "get")]
    [InlineData("PUT /apis/coordination.k8s.io/v1/namespaces/ns1/leases/epp-ns1-pool1", "coordination.k8s.io", "leases", "update")]
    [InlineData("POST /apis/authentication.k8s.io/v1/tokenreviews", "authentication.k8s.io", "tokenreviews", "create")]
    public void Authorization_MapsRequestsAsTheApiServer(string request, string group, string resource, string verb) =>
        Assert.Equal((group, resource, verb), Authorization(request));

    // ---- the reference chart's arguments (config/charts/epplib/templates/_deployment.yaml at 1748e829) ----

    /// <summary>The args the chart renders, per values combination.</summary>
    public static TheoryData<string, string[]> ChartArgs()
    {
        string[] pool = ["--pool-name", "vllm-qwen3-32b", "--pool-namespace", "default", "--pool-group", "inference.networking.k8s.io"];
        string[] standalone = ["--endpoint-selector", "app=vllm-qwen3-32b", "--endpoint-target-ports", "8000,8001"];
        string[] always = ["--zap-encoder", "json", "--config-file", "/config/default-plugins.yaml"];
        return new TheoryData<string, string[]>
        {
            { "pool, defaults", [.. pool, .. always, "--tracing=false"] },
            { "pool, replicas>1", [.. pool, .. always, "--ha-enable-leader-election", "--tracing=false"] },
            { "pool, tracing", [.. pool, .. always, "--tracing=true"] },
            { "pool, metrics auth off", [.. pool, .. always, "--tracing=false", "--metrics-endpoint-auth=false"] },
            { "pool, flags map", [.. pool, .. always, "--v=2", "--refresh-metrics-interval=50ms", "--tracing=false"] },
            { "standalone", [.. standalone, .. always, "--tracing=false"] },
            { "standalone, agentgateway sidecar", [.. standalone, .. always, "--secure-serving=false", "--tracing=false"] },
            { "standalone, replicas>1, tracing", [.. standalone, .. always, "--ha-enable-leader-election", "--tracing=true"] },
        };
    }

    [Theory]
    [MemberData(nameof(ChartArgs))]
    public void ChartArguments_AreAcceptedAndHonoured(string values, string[] args)
    {
        var o = EppOptions.Parse(args);
        Assert.True(o.Validate() is null, values + ": " + o.Validate());
        Assert.Equal("/config/default-plugins.yaml", o.ConfigFile);
        Assert.Equal(FastEpp.Hosting.Logging.ZapEncoder.Json, o.LogOptions.Encoder);
        Assert.Equal(args.Contains("--ha-enable-leader-election"), o.HaEnableLeaderElection);
        Assert.Equal(args.Contains("--tracing=true"), o.Tracing);
        Assert.Equal(!args.Contains("--metrics-endpoint-auth=false"), o.MetricsEndpointAuth);
        Assert.Equal(!args.Contains("--secure-serving=false"), o.SecureServing);
        if (args.Contains("--endpoint-selector"))
            Assert.Equal([8000, 8001], o.EndpointTargetPorts);
        else
            Assert.Equal(("vllm-qwen3-32b", "default"), (o.PoolName, o.PoolNamespace));
    }

    /// <summary>The chart's sglang / Triton / trtllm-serve variants still emit the deprecated metric-name flags, which
    /// the reference binary rejects at validation; so do we (spec runtime.md §7.2: mirror the rejection).</summary>
    [Theory]
    [InlineData("--total-queued-requests-metric=\"sglang:num_queue_reqs\"")]
    [InlineData("--lora-info-metric", "")]
    [InlineData("--total-queued-requests-metric=\"trtllm_num_requests_waiting\"")]
    public void ChartDeprecatedMetricFlags_ParseButFailValidation(params string[] extra)
    {
        var o = EppOptions.Parse(["--pool-name", "p", "--zap-encoder", "json", .. extra]);
        Assert.Contains("no longer supported", o.Validate());
    }

    /// <summary>The chart's tracing env (tracing.enabled) configures our tracer: OTLP exporter, the sampler and its ratio.</summary>
    [Fact]
    public void ChartTracingEnv_IsHonoured()
    {
        var env = new Dictionary<string, string>
        {
            ["OTEL_SERVICE_NAME"] = "gateway-api-inference-extension/epp",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4317",
            ["OTEL_TRACES_EXPORTER"] = "otlp",
            ["OTEL_RESOURCE_ATTRIBUTES"] = "k8s.namespace.name=default,k8s.node.name=n,k8s.pod.name=p",
            ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio",
            ["OTEL_TRACES_SAMPLER_ARG"] = "0.25",
        };
        using var tracing = EppTracing.Create(NullLogger.Instance, n => env.GetValueOrDefault(n));
        Assert.Equal("otlp", tracing.Exporter);
        Assert.Equal(0.25, tracing.SamplingRatio);
    }
}
