using System.Diagnostics;
using System.Globalization;
using System.Text;
using Envoy.Service.ExtProc.V3;
using FastEpp.ExtProcClient;
using FastEpp.Hosting;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

// fastepp-soak --minutes N [--concurrency C] [--rss-slope MiB/min] [--heap-slope MiB/min]
// fastepp-soak --prefix-index [--endpoints N] [--capacity C] [--sharing S] [--max-mib M]  (PrefixIndexRss.cs)
// Parent: starts itself with --epp (the EPP in a child process, so the load generator's memory is not measured),
// drives mixed load, prints the samples' summary and the verdict; exit 1 when a rule is broken.
if (args.Length > 0 && args[0] == "--epp")
    return await SoakChild.RunAsync();
if (args.Length > 0 && args[0] == "--prefix-index")
    return PrefixIndexRss.Run(args);
return await SoakParent.RunAsync(args);

/// <summary>The EPP under test (in-process EppHost, static endpoints) plus a once-a-second sampler on stdout.</summary>
internal static class SoakChild
{
    public static async Task<int> RunAsync()
    {
        var options = EppOptions.Parse(["--endpoints", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4", "--secure-serving=false",
            "--bind-address", "127.0.0.1", "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0"]);
        await using var host = await EppHost.StartAsync(options, NullLoggerFactory.Instance);
        Console.WriteLine($"PORT {host.GrpcPort}");
        var sw = Stopwatch.StartNew();
        using var stdin = Console.OpenStandardInput();
        var quit = Task.Run(() => stdin.ReadByte()); // the parent closes stdin to stop the child
        while (!quit.IsCompleted)
        {
            long inFlight = 0;
            foreach (var e in host.Registry.Current.Endpoints)
                inFlight += e.State.InFlight;
            int fds = Directory.GetFiles("/proc/self/fd").Length;
            int threads;
            using (var p = Process.GetCurrentProcess())
                threads = p.Threads.Count;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"S {sw.Elapsed.TotalSeconds:0.0} {Environment.WorkingSet} {GC.GetGCMemoryInfo().HeapSizeBytes} {threads} {fds} {host.Runtime.Stats.Running} {inFlight} {host.Runtime.Stats.Requests}"));
            await Task.WhenAny(quit, Task.Delay(1000));
        }
        return 0;
    }
}

internal readonly record struct Sample(double T, long Rss, long Heap, int Threads, int Fds, long Running, long InFlight, long Requests);

internal static class SoakParent
{
    public static async Task<int> RunAsync(string[] args)
    {
        double minutes = 1, rssBound = 4, heapBound = 2;
        int concurrency = 8;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--minutes": minutes = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--concurrency": concurrency = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--rss-slope": rssBound = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--heap-slope": heapBound = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine("usage: fastepp-soak --minutes N [--concurrency C] [--rss-slope MiB/min] [--heap-slope MiB/min]");
                    return 2;
            }
        }

        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        if (Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal))
            psi.ArgumentList.Add(typeof(SoakParent).Assembly.Location);
        psi.ArgumentList.Add("--epp");
        psi.Environment["DOTNET_gcServer"] = "1";
        using var child = Process.Start(psi)!;
        var samples = new List<Sample>();
        string? portLine = await child.StandardOutput.ReadLineAsync();
        int port = int.Parse(portLine!.Split(' ')[1], CultureInfo.InvariantCulture);
        var reader = Task.Run(async () =>
        {
            while (await child.StandardOutput.ReadLineAsync() is { } line)
            {
                var f = line.Split(' ');
                if (f[0] != "S")
                    continue;
                var s = new Sample(double.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture),
                    long.Parse(f[3], CultureInfo.InvariantCulture), int.Parse(f[4], CultureInfo.InvariantCulture), int.Parse(f[5], CultureInfo.InvariantCulture),
                    long.Parse(f[6], CultureInfo.InvariantCulture), long.Parse(f[7], CultureInfo.InvariantCulture), long.Parse(f[8], CultureInfo.InvariantCulture));
                lock (samples)
                    samples.Add(s);
            }
        });

        Console.WriteLine($"fastepp-soak: {minutes:0.##} min, {concurrency} concurrent streams, EPP in child pid {child.Id} (ext_proc :{port})");
        var load = new Load(port);
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(minutes));
        var workers = Enumerable.Range(0, concurrency).Select(w => load.WorkerAsync(w, stop.Token)).ToArray();
        await Task.WhenAll(workers);
        await Task.Delay(4000); // let the last resets land and two more samples arrive
        child.StandardInput.Close();
        await child.WaitForExitAsync();
        await reader;
        return Verdict.Report(samples, load, rssBound, heapBound);
    }
}

/// <summary>Mixed load: completed requests (small or 200 KB prompts, SSE or JSON responses), cancels mid-body, abandoned streams.</summary>
internal sealed class Load(int port)
{
    private static readonly byte[] s_small = Body(200);
    private static readonly byte[] s_large = Body(200 * 1024);
    private readonly ExternalProcessor.ExternalProcessorClient _client = new(ExtProcChannel.Create($"127.0.0.1:{port}"));
    public long Completed, Cancelled, Abandoned, Errors;

    private static byte[] Body(int promptBytes) =>
        Encoding.UTF8.GetBytes($"{{\"model\":\"m\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"{new string('p', promptBytes)}\"}}]}}");

    public async Task WorkerAsync(int worker, CancellationToken stop)
    {
        long n = worker;
        while (!stop.IsCancellationRequested)
        {
            n++;
            int kind = (int)(n % 10);
            byte[] body = n % 7 == 0 ? s_large : s_small;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                using var s = ExtProcStream.Open(_client, cts.Token);
                await s.SendRequestHeadersAsync(EnvoyMessages.Headers(EnvoyMessages.ChatHeaders(requestId: "soak-" + n)));
                if (kind == 0)
                {
                    // cancelled mid-body
                    var chunks = EnvoyMessages.Chunk(body, 1024);
                    await s.SendAsync(EnvoyMessages.RequestBody(chunks[0], chunks.Length == 1));
                    cts.Cancel();
                    Interlocked.Increment(ref Cancelled);
                    continue;
                }
                await s.SendRequestBodyAsync(body, 64 * 1024);
                await s.ReadAsync(cts.Token);
                await s.ReadRequestBodyAsync(null, cts.Token);
                if (kind == 1)
                {
                    Interlocked.Increment(ref Abandoned); // routed, then the stream is dropped without a response
                    continue;
                }
                bool sse = kind % 2 == 0;
                await s.SendAsync(EnvoyMessages.ResponseHeaders(EnvoyMessages.Headers((":status", "200"), ("content-type", sse ? "text/event-stream" : "application/json"))));
                await s.ReadAsync(cts.Token);
                string response = sse
                    ? "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n"
                    : "{\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}";
                await s.SendAsync(EnvoyMessages.ResponseBody(ByteString.CopyFromUtf8(response), endOfStream: true));
                while (await s.ReadAsync(cts.Token) is { } reply)
                {
                    if (reply.ResponseCase == ProcessingResponse.ResponseOneofCase.ResponseBody
                        && reply.ResponseBody.Response.BodyMutation.StreamedResponse.EndOfStream)
                        break;
                }
                await s.CompleteAsync();
                Interlocked.Increment(ref Completed);
            }
            catch (Exception) when (cts.IsCancellationRequested || stop.IsCancellationRequested)
            {
            }
            catch (Exception)
            {
                Interlocked.Increment(ref Errors);
            }
        }
    }
}

internal static class Verdict
{
    private const double MiB = 1024 * 1024;

    public static int Report(List<Sample> all, Load load, double rssBound, double heapBound)
    {
        if (all.Count < 10)
        {
            Console.WriteLine($"FAIL: only {all.Count} samples");
            return 1;
        }
        double end = all[^1].T;
        double warm = Math.Max(10, end * 0.25);
        var steady = all.Where(s => s.T >= warm).ToList();
        var warmup = all.Where(s => s.T < warm).ToList();
        double rssSlope = Slope(steady, s => s.Rss / MiB) * 60;
        double heapSlope = Slope(steady, s => s.Heap / MiB) * 60;
        var last = all[^1];
        int threadsWarmMax = warmup.Count > 0 ? warmup.Max(s => s.Threads) : all[0].Threads;
        int fdsWarmMax = warmup.Count > 0 ? warmup.Max(s => s.Fds) : all[0].Fds;
        int threadsMax = steady.Max(s => s.Threads), fdsMax = steady.Max(s => s.Fds);
        long requests = last.Requests;

        Console.WriteLine($"load: {load.Completed:N0} completed, {load.Cancelled:N0} cancelled mid-body, {load.Abandoned:N0} abandoned after routing, {load.Errors:N0} client errors; EPP saw {requests:N0} requests");
        Console.WriteLine($"samples: {all.Count} over {end:0} s, warm-up {warm:0} s");
        Console.WriteLine("| measure | warm-up end | steady min | steady max | end | slope after warm-up | rule | result |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---|---|");
        var rules = new List<bool>();
        Row("RSS (MiB)", s => s.Rss / MiB, $"{rssSlope:+0.00;-0.00} MiB/min", $"≤ {rssBound} MiB/min", rssSlope <= rssBound);
        Row("GC heap after last GC (MiB)", s => s.Heap / MiB, $"{heapSlope:+0.00;-0.00} MiB/min", $"≤ {heapBound} MiB/min", heapSlope <= heapBound);
        Row("threads", s => s.Threads, "", $"max ≤ warm-up max {threadsWarmMax} + 8", threadsMax <= threadsWarmMax + 8);
        Row("open fds", s => s.Fds, "", $"max ≤ warm-up max {fdsWarmMax} + 8", fdsMax <= fdsWarmMax + 8);
        Row("running requests", s => s.Running, "", "0 at the end", last.Running == 0);
        Row("endpoint in-flight", s => s.InFlight, "", "0 at the end", last.InFlight == 0);
        Console.WriteLine(rules.All(r => r) ? "PASS" : "FAIL");
        return rules.All(r => r) ? 0 : 1;

        void Row(string name, Func<Sample, double> f, string slope, string rule, bool ok)
        {
            rules.Add(ok);
            double w = warmup.Count > 0 ? f(warmup[^1]) : f(all[0]);
            Console.WriteLine($"| {name} | {w:0.#} | {steady.Min(f):0.#} | {steady.Max(f):0.#} | {f(last):0.#} | {slope} | {rule} | {(ok ? "ok" : "BROKEN")} |");
        }
    }

    /// <summary>Least-squares slope of y over time (per second).</summary>
    private static double Slope(List<Sample> s, Func<Sample, double> y)
    {
        double mt = s.Average(x => x.T), my = s.Average(y);
        double num = s.Sum(x => (x.T - mt) * (y(x) - my)), den = s.Sum(x => (x.T - mt) * (x.T - mt));
        return den == 0 ? 0 : num / den;
    }
}
