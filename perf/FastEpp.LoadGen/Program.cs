using System.Diagnostics;
using System.Globalization;
using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.ExtProcClient;
using Google.Protobuf;
using Grpc.Health.V1;

namespace FastEpp.LoadGen;

public static class LoadGenProgram
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: FastEpp.LoadGen smoke --target h:p --health h:p --expect a,b | load --target h:p [--concurrency 64] [--seconds 10] [--body-bytes 1024] [--chunk-bytes 31744] [--epp-pid PID]");
            return 2;
        }
        var opts = ParseArgs(args.Skip(1).ToArray());
        return args[0] switch
        {
            "smoke" => await Smoke(opts),
            "load" => await Load(opts),
            _ => 2,
        };
    }

    private static Dictionary<string, string> ParseArgs(string[] args)
    {
        var d = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2)
            d[args[i].TrimStart('-')] = args[i + 1];
        return d;
    }

    internal static byte[] ChatBody(int totalBytes)
    {
        const string head = "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"";
        const string tail = "\"},{\"role\":\"user\",\"content\":\"Summarise the text above.\"}],\"max_tokens\":128}";
        int fill = Math.Max(1, totalBytes - head.Length - tail.Length);
        var sb = new StringBuilder(totalBytes);
        sb.Append(head);
        var words = new[] { "alpha ", "bravo ", "charlie ", "delta ", "echo ", "foxtrot " };
        for (int i = 0; sb.Length - head.Length < fill; i++)
            sb.Append(words[i % words.Length]);
        sb.Length = head.Length + fill;
        sb.Append(tail);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>One request phase the way Envoy drives it: headers, body chunks, then read headers + body replies.</summary>
    internal static async Task<(string Destination, long BodyBytes)> RunRequest(ExternalProcessor.ExternalProcessorClient client, ByteString[] chunks, string requestId, CancellationToken ct)
    {
        using var stream = ExtProcStream.Open(client, ct);
        await stream.SendRequestHeadersAsync(EnvoyMessages.Headers(EnvoyMessages.ChatHeaders(requestId: requestId)), cancellationToken: ct);
        await stream.SendRequestBodyAsync(chunks, cancellationToken: ct);
        var first = await stream.ReadAsync(ct) ?? throw new InvalidOperationException("stream ended before the headers reply");
        if (first.ResponseCase == ProcessingResponse.ResponseOneofCase.ImmediateResponse)
            throw new InvalidOperationException("immediate response: " + first.ImmediateResponse.Body.ToStringUtf8());
        string destination = EnvoyReplies.Destination(first) ?? "";
        long bytes = await stream.ReadRequestBodyAsync(cancellationToken: ct);
        await stream.CompleteAsync();
        return (destination, bytes);
    }

    private static async Task<int> Smoke(Dictionary<string, string> o)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var healthChannel = ExtProcChannel.Create(o["health"]);
        var health = new Health.HealthClient(healthChannel);
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var status = await health.CheckAsync(new HealthCheckRequest { Service = "envoy.service.ext_proc.v3.ExternalProcessor" }, cancellationToken: cts.Token);
                if (status.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                    break;
            }
            catch (Grpc.Core.RpcException) when (!cts.IsCancellationRequested)
            {
            }
            await Task.Delay(50, cts.Token);
        }
        Console.WriteLine($"smoke: health SERVING after {sw.ElapsedMilliseconds} ms");
        using var channel = ExtProcChannel.Create(o["target"]);
        var client = new ExternalProcessor.ExternalProcessorClient(channel);
        var body = ChatBody(220 * 1024);
        var (destination, bytes) = await RunRequest(client, EnvoyMessages.Chunk(body, 31 * 1024), "smoke-1", cts.Token);
        var expected = o["expect"].Split(',');
        if (Array.IndexOf(expected, destination) < 0 || bytes != body.Length)
        {
            Console.Error.WriteLine($"smoke: FAILED destination={destination} bytes={bytes}/{body.Length}");
            return 1;
        }
        // A malformed body must come back as the reference's 400.
        using var bad = ExtProcStream.Open(client, cts.Token);
        await bad.SendRequestHeadersAsync(EnvoyMessages.Headers(EnvoyMessages.ChatHeaders(requestId: "smoke-2")));
        await bad.SendAsync(EnvoyMessages.RequestBody(ByteString.CopyFromUtf8("{oops"), endOfStream: true));
        var ir = (await bad.ReadAsync(cts.Token))?.ImmediateResponse;
        if (ir is null || EnvoyReplies.StatusOf(ir) != 400)
        {
            Console.Error.WriteLine("smoke: FAILED malformed body was not answered with 400");
            return 1;
        }
        Console.WriteLine($"smoke: OK routed to {destination}, {bytes} body bytes echoed, malformed body -> 400 \"{ir.Body.ToStringUtf8()}\"");
        return 0;
    }

    private static async Task<int> Load(Dictionary<string, string> o)
    {
        string target = o["target"];
        int concurrency = int.Parse(o.GetValueOrDefault("concurrency", "64"), CultureInfo.InvariantCulture);
        int seconds = int.Parse(o.GetValueOrDefault("seconds", "10"), CultureInfo.InvariantCulture);
        int bodyBytes = int.Parse(o.GetValueOrDefault("body-bytes", "1024"), CultureInfo.InvariantCulture);
        int chunkBytes = int.Parse(o.GetValueOrDefault("chunk-bytes", (31 * 1024).ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        int? eppPid = o.TryGetValue("epp-pid", out var p) ? int.Parse(p, CultureInfo.InvariantCulture) : null;
        int channels = int.Parse(o.GetValueOrDefault("channels", "4"), CultureInfo.InvariantCulture);

        var chunks = EnvoyMessages.Chunk(ChatBody(bodyBytes), chunkBytes);
        var clients = Enumerable.Range(0, channels).Select(_ => new ExternalProcessor.ExternalProcessorClient(ExtProcChannel.Create(target))).ToArray();
        var latencies = new List<double>[concurrency];
        long errors = 0;
        // Warm-up.
        using (var warm = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
            await Run(warm.Token, record: false);

        double cpuBefore = CpuSeconds(eppPid);
        var wall = Stopwatch.StartNew();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(seconds)))
            await Run(cts.Token, record: true);
        double elapsed = wall.Elapsed.TotalSeconds;
        double cpu = CpuSeconds(eppPid) - cpuBefore;

        var all = latencies.Where(l => l is not null).SelectMany(l => l).OrderBy(x => x).ToArray();
        double P(double q) => all.Length == 0 ? 0 : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        Console.WriteLine($"load: body={bodyBytes} B chunks={chunks.Length} concurrency={concurrency} duration={elapsed:F1}s");
        Console.WriteLine($"load: requests={all.Length} errors={errors} rate={all.Length / elapsed:F0} req/s p50={P(0.5):F3} ms p90={P(0.9):F3} ms p99={P(0.99):F3} ms");
        if (eppPid is not null && all.Length > 0)
            Console.WriteLine($"load: EPP CPU {cpu:F2} s total, {cpu / elapsed:F2} cores, {cpu * 1e6 / all.Length:F1} µs per request, RSS {RssMb(eppPid.Value):F1} MB");
        return errors == 0 ? 0 : 1;

        async Task Run(CancellationToken ct, bool record)
        {
            var workers = Enumerable.Range(0, concurrency).Select(async w =>
            {
                var mine = record ? (latencies[w] = new List<double>(4096)) : null;
                var client = clients[w % clients.Length];
                int n = 0;
                while (!ct.IsCancellationRequested)
                {
                    long start = Stopwatch.GetTimestamp();
                    try
                    {
                        await RunRequest(client, chunks, $"w{w}-{n++}", CancellationToken.None);
                        mine?.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                    catch (Exception) when (record)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            }).ToArray();
            await Task.WhenAll(workers);
        }
    }

    private static double CpuSeconds(int? pid)
    {
        if (pid is null)
            return 0;
        var fields = File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].Split(' ');
        long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks / 100.0; // USER_HZ
    }

    private static double RssMb(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        return 0;
    }
}
