using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace FastEpp.Perf.Fleet;

/// <summary>
/// The EPP under test as a child process: <c>--endpoints</c> over the fleet, plaintext ext_proc on a free port, plus
/// the configuration variant's own flags. A path ending in <c>.dll</c> runs under <c>dotnet</c>; anything else
/// (the native-AOT binary, preferred) is executed directly. Output goes to a log file.
/// </summary>
internal sealed class EppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private EppProcess(Process process, StreamWriter log, int grpcPort, int metricsPort)
    {
        _process = process;
        _log = log;
        GrpcPort = grpcPort;
        MetricsPort = metricsPort;
    }

    public int Pid => _process.Id;
    public int GrpcPort { get; }
    public int MetricsPort { get; }
    /// <summary>ext_proc address for the gateway.</summary>
    public string Address => "127.0.0.1:" + GrpcPort.ToString(CultureInfo.InvariantCulture);

    public static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>Splits a flag string on whitespace, honouring double quotes (dropped) and single quotes (literal inside).</summary>
    public static List<string> SplitArgs(string s)
    {
        var list = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false, single = false, any = false;
        foreach (char c in s)
        {
            // '…' keeps everything inside literally, double quotes included (JSON flags such as --kv-events-config).
            if (single) { if (c == '\'') single = false; else cur.Append(c); continue; }
            if (c == '\'' && !quoted) { single = true; any = true; continue; }
            if (c == '"') { quoted = !quoted; any = true; continue; }
            if (char.IsWhiteSpace(c) && !quoted)
            {
                if (any) { list.Add(cur.ToString()); cur.Clear(); any = false; }
                continue;
            }
            cur.Append(c);
            any = true;
        }
        if (any)
            list.Add(cur.ToString());
        return list;
    }

    /// <summary>The DOTNET_* settings Dockerfile.aot bakes into the image.</summary>
    public static readonly (string Name, string Value)[] ContainerEnvironment =
        [("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit", "0"), ("DOTNET_GCgen0size", "800000")];

    /// <summary>Starts the EPP and waits until its ext_proc port accepts connections.</summary>
    public static async Task<EppProcess> StartAsync(string binary, IReadOnlyList<string> endpoints, string extraArgs, string logPath,
        CancellationToken cancellationToken)
    {
        int grpc = FreePort(), health = FreePort(), metrics = FreePort();
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (binary.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            psi.FileName = "dotnet";
            psi.ArgumentList.Add(binary);
        }
        else
        {
            psi.FileName = binary;
        }
        // The runtime settings of the container image (Dockerfile.aot), unless the caller's environment sets them:
        // no thread-pool spinning at low load, and a small gen0 budget when only one CPU is visible.
        foreach ((string name, string value) in ContainerEnvironment)
            if (Environment.GetEnvironmentVariable(name) is null)
                psi.Environment[name] = value;
        psi.ArgumentList.Add("--endpoints");
        psi.ArgumentList.Add(string.Join(',', endpoints));
        psi.ArgumentList.Add("--secure-serving=false");
        psi.ArgumentList.Add("--grpc-port");
        psi.ArgumentList.Add(grpc.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add("--grpc-health-port");
        psi.ArgumentList.Add(health.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add("--metrics-port");
        psi.ArgumentList.Add(metrics.ToString(CultureInfo.InvariantCulture));
        foreach (string a in SplitArgs(extraArgs))
            psi.ArgumentList.Add(a);

        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        await log.WriteLineAsync("# " + psi.FileName + " " + string.Join(' ', psi.ArgumentList)).ConfigureAwait(false);
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        if (!process.Start())
            throw new InvalidOperationException("could not start " + binary);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var epp = new EppProcess(process, log, grpc, metrics);

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
                throw new InvalidOperationException("EPP exited with code " + process.ExitCode + " during start-up; see " + logPath);
            try
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(IPAddress.Loopback, grpc, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
        }
        // Give the EPP a few metric refreshes so it starts with fresh endpoint state.
        await Task.Delay(500, cancellationToken).ConfigureAwait(false);
        return epp;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(); // our own child, by pid
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        lock (_log)
            _log.Dispose();
    }
}
