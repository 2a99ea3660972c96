using System.Diagnostics;
using System.Net;
using System.Text;

namespace FastEpp.Chaos;

/// <summary>How one client request ended.</summary>
internal enum Outcome
{
    /// <summary>200 and the whole SSE stream up to <c>data: [DONE]</c>.</summary>
    Ok,
    /// <summary>A complete answer with another status (the gateway's 503, a replica's 500, …).</summary>
    Status,
    /// <summary>The connection broke (before or after the headers): the client saw an error.</summary>
    Broken,
    /// <summary>No end within the client's deadline: a hang, always a broken rule.</summary>
    Hang,
}

/// <summary>One request as the client saw it; times in ms since the run's start.</summary>
internal readonly record struct Record(double Start, double End, Outcome Outcome, int Status, int Replica, bool ViaEpp, bool Sheddable = false);

/// <summary>
/// Steady closed-loop load on the gateway: <see cref="Concurrency"/> workers, each sending streaming chat completions
/// (16 output tokens) one after the other, every outcome recorded.
/// </summary>
internal sealed class Load : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly string _url;
    private readonly Stopwatch _clock;
    private readonly List<Record> _records = new(1 << 16);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _workers = new();
    private volatile int _active;

    public Load(string gatewayBase, Stopwatch clock, TimeSpan deadline)
    {
        _url = gatewayBase + "/v1/chat/completions";
        _clock = clock;
        Deadline = deadline;
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        })
        { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>A request not finished after this is a hang.</summary>
    public TimeSpan Deadline { get; }

    public int InFlight;

    /// <summary>Which requests (worker, sequence number) name the <c>sheddable</c> InferenceObjective (priority −1); null = none.</summary>
    public Func<int, long, bool>? Sheddable { get; set; }

    /// <summary>Workers currently sending (the others idle).</summary>
    public int Concurrency
    {
        get => _active;
        set
        {
            _active = value;
            while (_workers.Count < value)
            {
                int id = _workers.Count;
                _workers.Add(Task.Run(() => WorkerAsync(id)));
            }
        }
    }

    public double Now => _clock.Elapsed.TotalMilliseconds;

    /// <summary>Records that started in [from, to) (ms).</summary>
    public List<Record> Between(double from, double to)
    {
        lock (_records)
            return _records.Where(r => r.Start >= from && r.Start < to).ToList();
    }

    /// <summary>Every record so far.</summary>
    public List<Record> All()
    {
        lock (_records)
            return _records.ToList();
    }

    private async Task WorkerAsync(int id)
    {
        long n = 0;
        while (!_stop.IsCancellationRequested)
        {
            if (id >= _active)
            {
                await Task.Delay(20).ConfigureAwait(false);
                continue;
            }
            n++;
            // Half the prompts recur (prefix-cache affinity), half are new (any replica may win them).
            string prompt = n % 2 == 0 ? $"worker {id} topic {n % 5}: tell me about the weather in a city" : $"worker {id} question {n}: tell me about a city";
            Record r = await OneAsync(prompt, Sheddable?.Invoke(id, n) == true).ConfigureAwait(false);
            lock (_records)
                _records.Add(r);
            if (r.Outcome != Outcome.Ok)
                await Task.Delay(50).ConfigureAwait(false); // a client's back-off before the next request
        }
    }

    private async Task<Record> OneAsync(string prompt, bool sheddable)
    {
        double start = Now;
        Interlocked.Increment(ref InFlight);
        int status = 0, replica = -1;
        bool viaEpp = false;
        using var cts = new CancellationTokenSource(Deadline);
        try
        {
            using var req = new HttpRequestMessage(HttpMethod.Post, _url)
            {
                Content = new StringContent(
                    "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"stream\":true,\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"" + prompt + "\"}]}",
                    Encoding.UTF8, "application/json"),
            };
            if (sheddable)
                req.Headers.TryAddWithoutValidation("x-gateway-inference-objective", "sheddable");
            using HttpResponseMessage res = await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            status = (int)res.StatusCode;
            if (res.Headers.TryGetValues("x-sim-replica", out var rv) && int.TryParse(rv.First(), out int ri))
                replica = ri;
            viaEpp = res.Headers.Contains("x-went-into-resp-headers");
            byte[] body = await res.Content.ReadAsByteArrayAsync(cts.Token).ConfigureAwait(false);
            bool done = body.AsSpan().IndexOf("data: [DONE]"u8) >= 0;
            return new Record(start, Now, status == 200 && done ? Outcome.Ok : status == 200 ? Outcome.Broken : Outcome.Status, status, replica, viaEpp, sheddable);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return new Record(start, Now, Outcome.Hang, status, replica, viaEpp, sheddable);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return new Record(start, Now, Outcome.Broken, status, replica, viaEpp, sheddable);
        }
        finally
        {
            Interlocked.Decrement(ref InFlight);
        }
    }

    /// <summary>Stops sending and waits for the requests in flight to end.</summary>
    public async Task StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_workers).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _http.Dispose();
        _stop.Dispose();
    }

    /// <summary>Percentile of the durations of <paramref name="rs"/> (ms); NaN when empty.</summary>
    public static double Percentile(List<Record> rs, double p)
    {
        if (rs.Count == 0)
            return double.NaN;
        var d = rs.Select(r => r.End - r.Start).OrderBy(x => x).ToList();
        return d[Math.Min(d.Count - 1, (int)Math.Ceiling(p * d.Count) - 1)];
    }
}
