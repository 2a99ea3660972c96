using System.Buffers;
using System.Globalization;

namespace FastEpp.Gateway;

/// <summary>How the gateway picks the upstream of a request.</summary>
internal enum RoutingMode
{
    /// <summary>Ask the EPP over ext_proc (the InferencePool path).</summary>
    Epp,
    /// <summary>Round robin over <c>--upstreams</c> (a plain Kubernetes Service with kube-proxy IPVS rr).</summary>
    RoundRobin,
    /// <summary>Uniformly random over <c>--upstreams</c> (a plain Kubernetes Service with iptables).</summary>
    Random,
    /// <summary>
    /// An in-process picker that sees the request body (<see cref="GatewayOptions.Picker"/>): the perf suite's oracle over
    /// its in-process simulated fleet. Not available from the command line (there is no fleet to see).
    /// </summary>
    Oracle,
}

/// <summary>What happens when the EPP cannot be reached (InferencePool <c>failureMode</c>).</summary>
internal enum FailureMode
{
    /// <summary>Fail closed: answer 503 (the InferencePool default, FailClose).</summary>
    Closed,
    /// <summary>Fail open: route round robin over <c>--upstreams</c>.</summary>
    Open,
}

/// <summary>Command-line options of <c>fastepp-gateway</c>: <c>--name value</c> or <c>--name=value</c>.</summary>
internal sealed class GatewayOptions
{
    /// <summary>Routing mode.</summary>
    public RoutingMode Mode { get; set; } = RoutingMode.RoundRobin;

    /// <summary>Listen address (an IP; "*" = all interfaces).</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>Listen port; 0 = ephemeral (tests).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>
    /// EPP ext_proc addresses host:port (plaintext h2c); at least one in <see cref="RoutingMode.Epp"/>. Several = EPP
    /// replicas active-active behind one Service: each request's ext_proc stream goes to the next address, round robin
    /// (Envoy balancing ext_proc streams over the Service's pods). Failure mode applies per request to the EPP it asked.
    /// </summary>
    public List<string> Epps { get; } = new();

    /// <summary>The EPP addresses as one comma-separated string (setting it replaces <see cref="Epps"/>).</summary>
    public string Epp
    {
        get => string.Join(',', Epps);
        set
        {
            Epps.Clear();
            foreach (string part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                Epps.Add(part);
        }
    }

    /// <summary>
    /// Share of requests (0..1) that bypass the EPP (mode epp) or the in-process picker (mode oracle) and go round robin
    /// over <see cref="Upstreams"/>: traffic of another gateway or of clients that reach the pods through a plain Service.
    /// Which requests: <see cref="BypassSelector"/> (deterministic from <see cref="Seed"/> and the request's x-request-id).
    /// </summary>
    public double BypassFraction { get; set; }

    /// <summary>Behaviour when the EPP is unreachable or fails before it picked an endpoint.</summary>
    public FailureMode FailureMode { get; set; } = FailureMode.Closed;

    /// <summary>Upstreams host:port for the baseline modes and for fail-open.</summary>
    public List<string> Upstreams { get; } = new();

    /// <summary>Body chunk size sent to the EPP (Envoy's per-read buffer is 16 KiB).</summary>
    public int ChunkBytes { get; set; } = 16 * 1024;

    /// <summary>
    /// Mode oracle: picks the upstream (host:port, one of <see cref="Upstreams"/>) from the whole request body and its path;
    /// null = no opinion (the request goes round robin and counts as a fallback).
    /// </summary>
    public Func<ReadOnlySequence<byte>, string, string?>? Picker { get; set; }

    /// <summary>Seed of the random mode.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Usage text.</summary>
    public const string Usage = """
        fastepp-gateway: an Envoy-like HTTP/1.1 gateway for benchmarking endpoint pickers.

          --mode epp|round-robin|random   routing (round-robin)
          --epp host:port[,host:port]     EPP ext_proc address(es), plaintext h2c (mode epp); several = EPP replicas
                                          active-active: each request's stream goes to the next one, round robin;
                                          the failure mode applies to the one asked (no retry on another)
          --failure-mode open|closed      EPP unreachable: open = round robin over --upstreams, closed = 503 (closed)
          --upstreams h:p,h:p             model servers for round-robin/random and fail-open
          --host H                        listen address (127.0.0.1)
          --port P                        listen port, 0 = ephemeral (8080)
          --chunk-bytes N                 request/response body chunk size sent to the EPP (16384)
          --bypass-fraction F             mode epp: this share (0..1) of requests skips the EPP and goes round robin
                                          over --upstreams (another gateway / a plain Service next to the
                                          InferencePool); chosen by a hash of --seed and the request's x-request-id
                                          (by arrival number without one); counted as "bypassed" (0)
          --seed N                        seed of the random mode and of --bypass-fraction (1)
        GET /gateway/stats answers the counters as JSON.
        """;

    /// <summary>Parses flags; null with <paramref name="error"/> set on bad input ("help" for --help).</summary>
    public static GatewayOptions? Parse(string[] args, out string? error)
    {
        var o = new GatewayOptions();
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (arg is "--help" or "-h")
            {
                error = "help";
                return null;
            }
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                error = "unexpected argument '" + arg + "'";
                return null;
            }
            string name;
            string? value;
            int eq = arg.IndexOf('=');
            if (eq > 0)
            {
                name = arg[2..eq];
                value = arg[(eq + 1)..];
            }
            else
            {
                name = arg[2..];
                value = i + 1 < args.Length ? args[++i] : null;
            }
            if (value is null)
            {
                error = "flag --" + name + " needs a value";
                return null;
            }
            switch (name)
            {
                case "mode":
                    switch (value)
                    {
                        case "epp": o.Mode = RoutingMode.Epp; break;
                        case "round-robin" or "rr": o.Mode = RoutingMode.RoundRobin; break;
                        case "random": o.Mode = RoutingMode.Random; break;
                        case "oracle": error = "--mode oracle needs an in-process simulated fleet: run it from the perf tool (compare --modes oracle)"; return null;
                        default: error = "--mode must be epp, round-robin or random, not '" + value + "'"; return null;
                    }
                    break;
                case "epp": o.Epp = value; break;
                case "failure-mode":
                    switch (value)
                    {
                        case "open": o.FailureMode = FailureMode.Open; break;
                        case "closed": o.FailureMode = FailureMode.Closed; break;
                        default: error = "--failure-mode must be open or closed, not '" + value + "'"; return null;
                    }
                    break;
                case "upstreams":
                    foreach (string part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        o.Upstreams.Add(part);
                    break;
                case "bypass-fraction":
                    if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double bypass))
                    {
                        error = "--bypass-fraction must be a number within 0..1, not '" + value + "'";
                        return null;
                    }
                    o.BypassFraction = bypass;
                    break;
                case "host": o.Host = value; break;
                case "port":
                    if (!TryInt(value, 0, 65535, out int port)) { error = "--port must be 0..65535"; return null; }
                    o.Port = port;
                    break;
                case "chunk-bytes":
                    if (!TryInt(value, 1, 4 << 20, out int chunk)) { error = "--chunk-bytes must be 1..4194304"; return null; }
                    o.ChunkBytes = chunk;
                    break;
                case "seed":
                    if (!TryInt(value, int.MinValue, int.MaxValue, out int seed)) { error = "--seed must be an integer"; return null; }
                    o.Seed = seed;
                    break;
                default:
                    error = "unknown flag --" + name;
                    return null;
            }
        }
        error = o.Validate();
        return error is null ? o : null;
    }

    /// <summary>Checks the combination of flags; null when valid.</summary>
    public string? Validate()
    {
        if (Mode == RoutingMode.Epp && Epps.Count == 0)
            return "--mode epp needs --epp host:port";
        if (!(BypassFraction >= 0 && BypassFraction <= 1))
            return "--bypass-fraction must be within 0..1, not " + BypassFraction.ToString(CultureInfo.InvariantCulture);
        if (BypassFraction > 0 && Mode is RoutingMode.RoundRobin or RoutingMode.Random)
            return "--bypass-fraction applies to mode epp (and the perf suite's oracle) only: mode round-robin/random has no picker to bypass";
        if (BypassFraction > 0 && Upstreams.Count == 0)
            return "--bypass-fraction needs --upstreams (bypassed requests go round robin over them)";
        if (Mode != RoutingMode.Epp && Upstreams.Count == 0)
            return "--mode " + (Mode switch { RoutingMode.Random => "random", RoutingMode.Oracle => "oracle", _ => "round-robin" }) + " needs --upstreams";
        if (Mode == RoutingMode.Oracle && Picker is null)
            return "mode oracle needs an in-process picker";
        if (Mode == RoutingMode.Epp && FailureMode == FailureMode.Open && Upstreams.Count == 0)
            return "--failure-mode open needs --upstreams";
        return null;
    }

    private static bool TryInt(string s, int min, int max, out int v) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v) && v >= min && v <= max;
}
