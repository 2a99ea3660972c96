using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using FastEpp.Gateway;
using FastEpp.Tests.Kubernetes;

namespace FastEpp.Chaos;

/// <summary>A child process with its stdout/stderr appended to a log file.</summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _p;
    private readonly StreamWriter _log;

    private ChildProcess(Process p, StreamWriter log)
    {
        _p = p;
        _log = log;
    }

    public int Pid => _p.Id;
    public bool Exited => _p.HasExited;

    public static ChildProcess Start(string dll, IEnumerable<string> args, string logPath, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_TieredPGO"] = "0";
        if (env is not null)
        {
            foreach (var kv in env)
                psi.Environment[kv.Key] = kv.Value;
        }
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new ChildProcess(p, log);
    }

    /// <summary>SIGKILL: no shutdown, no goodbye.</summary>
    public void Kill()
    {
        try
        {
            _p.Kill(); // dotnet runs the EPP in this very process: no tree to walk
        }
        catch (InvalidOperationException)
        {
        }
        _p.WaitForExit(10_000);
    }

    /// <summary>Open file descriptors (/proc/pid/fd); -1 when the process is gone.</summary>
    public int Fds()
    {
        try
        {
            return Directory.GetFiles($"/proc/{_p.Id}/fd").Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>Threads (/proc/pid/task); -1 when the process is gone.</summary>
    public int Threads()
    {
        try
        {
            return Directory.GetDirectories($"/proc/{_p.Id}/task").Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>Resident set (MiB) from /proc/pid/status.</summary>
    public double RssMiB()
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{_p.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
            }
        }
        catch (IOException)
        {
        }
        return -1;
    }

    public void Dispose()
    {
        Kill();
        _p.Dispose();
        lock (_log)
            _log.Dispose();
    }
}

/// <summary>
/// The fleet for one chaos run: fastepp-sim (child process, 4 replicas), a <see cref="FaultFront"/> per replica, the
/// EPP (child process, static endpoints from a watched file, ports fixed so a restart reuses them) and the gateway
/// emulator in process (fail-closed, plus a fail-open one for the EPP scenarios).
/// </summary>
internal sealed class Harness : IAsyncDisposable
{
    public const int Replicas = 4;
    private readonly string _chaosDll;
    private readonly string _dir;
    private readonly HttpClient _admin = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
    private ChildProcess? _sim;
    private int _eppGeneration;

    private Harness(string chaosDll, string dir)
    {
        _chaosDll = chaosDll;
        _dir = dir;
    }

    public int SimBasePort { get; private set; }
    public FaultFront[] Fronts { get; } = new FaultFront[Replicas];
    public ChildProcess? Epp { get; private set; }
    public int EppPort { get; private set; }
    public string EndpointsFile => Path.Combine(_dir, "endpoints.txt");
    public string ConfigFile => Path.Combine(_dir, "config.yaml");
    public GatewayServer GatewayClosed { get; private set; } = null!;
    public GatewayServer GatewayOpen { get; private set; } = null!;
    public HttpClient Admin => _admin;

    public static async Task<Harness> StartAsync(string chaosDll, string simDll, string dir, bool kube = false)
    {
        dir = Path.Combine(dir, kube ? "kube" : "static");
        Directory.CreateDirectory(dir);
        var h = new Harness(chaosDll, dir);
        h.SimBasePort = FreePortRun(Replicas);
        h._sim = ChildProcess.Start(simDll, ["--replicas", Replicas.ToString(CultureInfo.InvariantCulture), "--port", h.SimBasePort.ToString(CultureInfo.InvariantCulture),
            "--max-num-seqs", "8", "--seed", "11"], Path.Combine(dir, "sim.log"));
        int podPort = kube ? FreePortOnPodIps() : 0;
        for (int i = 0; i < Replicas; i++)
            await WaitHttpAsync(h._admin, $"http://127.0.0.1:{h.SimBasePort + i}/health", TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        for (int i = 0; i < Replicas; i++)
        {
            // Pool mode: one pod per replica, pod IP 127.0.0.(i+1), all on the pool's one target port.
            h.Fronts[i] = kube
                ? new FaultFront(h.SimBasePort + i, h._admin, IPAddress.Parse($"127.0.0.{i + 1}"), podPort)
                : new FaultFront(h.SimBasePort + i, h._admin);
            h.Fronts[i].Start();
        }
        h.WriteEndpoints(Enumerable.Range(0, Replicas));
        File.WriteAllText(h.ConfigFile, DefaultConfig);
        string eppAddress;
        if (kube)
        {
            // Pool mode against the fake API server: one pod (127.0.0.1) whose InferencePool lists the four fronts as
            // target ports; two EPP replicas with leader election behind a Service that routes to the ready one.
            h.Api = await FakeKubeApiServer.StartAsync().ConfigureAwait(false);
            // The EPPs reach the API server through a front, so that it can "restart" (connections reset, refused, back
            // with its data, as etcd keeps it).
            h.ApiFront = new FaultFront(h.Api.BaseAddress.Port, h._admin);
            h.ApiFront.Start();
            h.Kubeconfig = Path.Combine(dir, "kubeconfig");
            File.WriteAllText(h.Kubeconfig, h.Api.WriteKubeconfig(dir) is { } original
                ? File.ReadAllText(original).Replace(h.Api.BaseAddress.ToString().TrimEnd('/'), "http://" + h.ApiFront.Endpoint, StringComparison.Ordinal)
                : "");
            h.Api.Upsert(FakeKubeApiServer.Pools("ns1"), FastEpp.Tests.Kubernetes.KubeTestObjects.Pool("pool1", new() { ["app"] = "vllm" }, [podPort]));
            h.SetReadyPods(Enumerable.Range(0, Replicas));
            h.Api.Upsert(FakeKubeApiServer.Objectives("ns1"), FastEpp.Tests.Kubernetes.KubeTestObjects.Objective("sheddable", -1, "pool1"));
            h.KubeEpps = [(null!, FreePortRun(3)), (null!, FreePortRun(3))];
            for (int i = 0; i < 2; i++)
                await h.StartKubeEppAsync(i).ConfigureAwait(false);
            h.Service = new ServiceProxy(() => h.KubeEpps.Select(e => (e.Port, e.Port + 1)).ToList());
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (h.Service.ReadyPort == 0 && DateTime.UtcNow < until)
                await Task.Delay(100).ConfigureAwait(false);
            if (!h.SyncLeader())
                throw new TimeoutException("no EPP replica became ready (leader) within 60 s");
            eppAddress = "127.0.0.1:" + h.Service.Port;
        }
        else
        {
            h.EppPort = FreePortRun(3);
            await h.StartEppAsync().ConfigureAwait(false);
            eppAddress = "127.0.0.1:" + h.EppPort;
        }

        var closed = new GatewayOptions { Mode = RoutingMode.Epp, Epp = eppAddress, FailureMode = FailureMode.Closed, Port = 0 };
        h.GatewayClosed = GatewayServer.Create(closed);
        await h.GatewayClosed.StartAsync().ConfigureAwait(false);
        var open = new GatewayOptions { Mode = RoutingMode.Epp, Epp = eppAddress, FailureMode = FailureMode.Open, Port = 0 };
        foreach (FaultFront f in h.Fronts)
            open.Upstreams.Add(f.Endpoint);
        h.GatewayOpen = GatewayServer.Create(open);
        await h.GatewayOpen.StartAsync().ConfigureAwait(false);
        return h;
    }

    public FakeKubeApiServer? Api { get; private set; }
    public string Kubeconfig { get; private set; } = "";
    public ServiceProxy? Service { get; private set; }
    public FaultFront? ApiFront { get; private set; }

    /// <summary>Pool mode: the EPP replicas (process, gRPC port; health = port + 1, metrics = port + 2).</summary>
    public (ChildProcess Proc, int Port)[] KubeEpps { get; private set; } = [];

    /// <summary>Pool mode: pods vllm-0…3 (pod IP 127.0.0.1…4), Ready exactly for <paramref name="replicas"/> (the kubelet's readiness).</summary>
    public void SetReadyPods(IEnumerable<int> replicas)
    {
        var ready = replicas.ToHashSet();
        for (int i = 0; i < Replicas; i++)
            Api!.Upsert(FakeKubeApiServer.Pods("ns1"), FastEpp.Tests.Kubernetes.KubeTestObjects.Pod($"vllm-{i}", Fronts[i].Address, ready: ready.Contains(i)));
    }

    /// <summary>A port free on 127.0.0.1 … 127.0.0.4 at once (the pods' common target port).</summary>
    private static int FreePortOnPodIps()
    {
        var rnd = new Random();
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int port = rnd.Next(20000, 60000);
            var held = new List<Socket>();
            try
            {
                for (int i = 0; i < Replicas; i++)
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    held.Add(s);
                    s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{i + 1}"), port));
                }
                return port;
            }
            catch (SocketException)
            {
            }
            finally
            {
                foreach (Socket s in held)
                    s.Dispose();
            }
        }
        throw new InvalidOperationException("no port free on every pod IP");
    }

    /// <summary>Pool mode: <see cref="Epp"/>/<see cref="EppPort"/> follow the ready replica (the leader); false when none is.</summary>
    public bool SyncLeader()
    {
        int ready = Service!.ReadyPort;
        foreach (var (proc, port) in KubeEpps)
        {
            if (port == ready)
            {
                Epp = proc;
                EppPort = port;
                return true;
            }
        }
        return false;
    }

    /// <summary>Starts (or restarts) EPP replica <paramref name="i"/> in pool mode with leader election.</summary>
    public async Task StartKubeEppAsync(int i)
    {
        _eppGeneration++;
        int port = KubeEpps[i].Port;
        string log = Path.Combine(_dir, $"epp-{_eppGeneration}.log");
        var p = ChildProcess.Start(_chaosDll, ["--epp", "--pool-name", "pool1", "--pool-namespace", "ns1", "--ha-enable-leader-election", "--config-file", ConfigFile,
            "--secure-serving=false", "--bind-address", "127.0.0.1", "--grpc-port", port.ToString(CultureInfo.InvariantCulture),
            "--grpc-health-port", (port + 1).ToString(CultureInfo.InvariantCulture), "--metrics-port", (port + 2).ToString(CultureInfo.InvariantCulture),
            "--metrics-endpoint-auth=false", "-v", "2"], log, new Dictionary<string, string> { ["KUBECONFIG"] = Kubeconfig });
        KubeEpps[i] = (p, port);
        await WaitListeningAsync(p, port, log).ConfigureAwait(false);
    }

    private static async Task WaitListeningAsync(ChildProcess p, int port, string log)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < until)
        {
            if (p.Exited)
                throw new InvalidOperationException("the EPP exited at start-up; see " + log);
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port).ConfigureAwait(false);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
        }
        throw new TimeoutException("the EPP did not listen within 60 s");
    }

    /// <summary>
    /// The reference's default profile, with the max-score picker returning a fallback endpoint: the gateway tries it
    /// when the primary refuses the connection (a replica that died between two readiness checks).
    /// </summary>
    public const string DefaultConfig = """
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - type: queue-scorer
        - type: kv-cache-utilization-scorer
        - type: prefix-cache-scorer
        - type: max-score-picker
          parameters: {maxNumOfEndpoints: 2}
        schedulingProfiles:
        - name: default
          plugins:
          - {pluginRef: queue-scorer, weight: 2}
          - {pluginRef: kv-cache-utilization-scorer, weight: 2}
          - {pluginRef: prefix-cache-scorer, weight: 3}
          - {pluginRef: max-score-picker}
        """;

    /// <summary><see cref="DefaultConfig"/> with flow control on (queueing in the EPP while the pool is saturated).</summary>
    public const string FlowControlConfig = DefaultConfig + "\nfeatureGates: [flowControl]\n";

    /// <summary>Static mode: the EPP restarted (SIGKILL, start) with another config file content.</summary>
    public async Task RestartEppWithConfigAsync(string config)
    {
        File.WriteAllText(ConfigFile, config);
        Epp!.Kill();
        Epp.Dispose();
        await StartEppAsync().ConfigureAwait(false);
        // Until the gateway's channel has reconnected, requests would be refused (fail-closed): wait for one routed.
        using var http = new HttpClient();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < until)
        {
            try
            {
                using var res = await http.PostAsync(GatewayClosed.BaseAddress + "/v1/chat/completions",
                    new StringContent("{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                        System.Text.Encoding.UTF8, "application/json")).ConfigureAwait(false);
                if (res.IsSuccessStatusCode && res.Headers.Contains("x-went-into-resp-headers"))
                    return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
        throw new TimeoutException("routing did not come back within 30 s after the EPP restart");
    }

    /// <summary>The sum of one gauge family's samples on the EPP's /metrics (0 when absent or unreadable).</summary>
    public async Task<long> EppGaugeSumAsync(string family)
    {
        double sum = 0;
        try
        {
            string page = await _admin.GetStringAsync($"http://127.0.0.1:{EppPort + 2}/metrics").ConfigureAwait(false);
            foreach (string line in page.Split('\n'))
            {
                if (line.StartsWith(family, StringComparison.Ordinal) && (line.Length > family.Length && (line[family.Length] == '{' || line[family.Length] == ' ')))
                    sum += double.Parse(line.AsSpan(line.LastIndexOf(' ') + 1), CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException)
        {
        }
        return (long)sum;
    }

    /// <summary>The static endpoints the EPP routes over (the file it watches; one line per replica front).</summary>
    public void WriteEndpoints(IEnumerable<int> replicas)
    {
        string tmp = EndpointsFile + ".tmp";
        File.WriteAllLines(tmp, replicas.Select(i => Fronts[i].Endpoint));
        File.Move(tmp, EndpointsFile, overwrite: true); // atomic, as a ConfigMap update swaps the file
    }

    /// <summary>Starts the EPP child and waits until its gRPC port accepts connections.</summary>
    public async Task StartEppAsync()
    {
        _eppGeneration++;
        Epp = ChildProcess.Start(_chaosDll, ["--epp", "--endpoints", "@" + EndpointsFile, "--config-file", ConfigFile,
            "--secure-serving=false", "--bind-address", "127.0.0.1", "--grpc-port", EppPort.ToString(CultureInfo.InvariantCulture),
            "--grpc-health-port", (EppPort + 1).ToString(CultureInfo.InvariantCulture), "--metrics-port", (EppPort + 2).ToString(CultureInfo.InvariantCulture),
            "--metrics-endpoint-auth=false", "-v", "2"], Path.Combine(_dir, $"epp-{_eppGeneration}.log"));
        await WaitListeningAsync(Epp, EppPort, Path.Combine(_dir, $"epp-{_eppGeneration}.log")).ConfigureAwait(false);
    }

    /// <summary>The EPP's <c>fastepp_extproc_running_requests</c> gauge (-1 when unreadable).</summary>
    public async Task<long> EppRunningAsync()
    {
        try
        {
            string page = await _admin.GetStringAsync($"http://127.0.0.1:{EppPort + 2}/metrics").ConfigureAwait(false);
            foreach (string line in page.Split('\n'))
            {
                if (line.StartsWith("fastepp_extproc_running_requests ", StringComparison.Ordinal))
                    return (long)double.Parse(line.AsSpan(line.IndexOf(' ') + 1), CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
        }
        return -1;
    }

    public Task SimAdminAsync(string path) =>
        _admin.PostAsync($"http://127.0.0.1:{SimBasePort}{path}", null).ContinueWith(t => t.Result.EnsureSuccessStatusCode(), TaskScheduler.Default);

    private static async Task WaitHttpAsync(HttpClient http, string url, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var r = await http.GetAsync(url).ConfigureAwait(false);
                if (r.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                if (DateTime.UtcNow > until)
                    throw;
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    /// <summary>A run of <paramref name="n"/> consecutive free loopback ports (checked by binding them).</summary>
    internal static int FreePortRun(int n)
    {
        var rnd = new Random();
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int basePort = rnd.Next(20000, 60000 - n);
            var held = new List<Socket>();
            try
            {
                for (int i = 0; i < n; i++)
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    held.Add(s);
                    s.Bind(new IPEndPoint(IPAddress.Loopback, basePort + i));
                }
                return basePort;
            }
            catch (SocketException)
            {
            }
            finally
            {
                foreach (Socket s in held)
                    s.Dispose();
            }
        }
        throw new InvalidOperationException("no free port run");
    }

    public async ValueTask DisposeAsync()
    {
        if (GatewayClosed is not null)
            await GatewayClosed.DisposeAsync().ConfigureAwait(false);
        if (GatewayOpen is not null)
            await GatewayOpen.DisposeAsync().ConfigureAwait(false);
        if (Service is not null)
            await Service.DisposeAsync().ConfigureAwait(false);
        if (KubeEpps.Length > 0)
        {
            foreach (var (proc, _) in KubeEpps)
                proc?.Dispose();
        }
        else
        {
            Epp?.Dispose();
        }
        if (ApiFront is not null)
            await ApiFront.DisposeAsync().ConfigureAwait(false);
        if (Api is not null)
            await Api.DisposeAsync().ConfigureAwait(false);
        foreach (FaultFront f in Fronts)
        {
            if (f is not null)
                await f.DisposeAsync().ConfigureAwait(false);
        }
        _sim?.Dispose();
        _admin.Dispose();
    }
}
