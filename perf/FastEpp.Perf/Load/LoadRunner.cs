using System.Diagnostics;
using FastEpp.Perf.Workloads;

namespace FastEpp.Perf.Load;

/// <summary>
/// Drives a workload: Poisson arrivals per stage (seeded, so every routing mode gets the same schedule and the
/// same requests), at most <see cref="WorkloadSpec.MaxConcurrency"/> in flight (an arrival waits for a slot, as
/// inference-perf's workers do), then waits up to a drain timeout for the stragglers (cancelled ones count as errors).
/// </summary>
internal static class LoadRunner
{
    public static async Task<RequestResult[]> RunOpenLoopAsync(WorkloadSpec spec, PromptFactory prompts, StreamingClient client,
        int seed, TimeSpan drainTimeout, Action<string>? progress, CancellationToken cancellationToken)
    {
        var arrivals = new Random(seed ^ 0x5EED);
        using var slots = new SemaphoreSlim(spec.MaxConcurrency, spec.MaxConcurrency);
        using var drainCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = new List<Task<RequestResult>>(1024);
        long runStart = Stopwatch.GetTimestamp();
        double stageStart = 0;
        for (int s = 0; s < spec.Stages.Length; s++)
        {
            Stage stage = spec.Stages[s];
            double stageEnd = stageStart + stage.Seconds;
            double[] times = ArrivalTimes(stage, spec.Arrivals, arrivals);
            int sent = 0;
            foreach (double offset in times)
            {
                double t = stageStart + offset;
                double wait = t - Stopwatch.GetElapsedTime(runStart).TotalSeconds;
                if (wait > 0.001)
                    await Task.Delay(TimeSpan.FromSeconds(wait), cancellationToken).ConfigureAwait(false);
                PlannedRequest planned = prompts.Next();
                await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                // x-request-id = the request's number in the seeded plan: the same request has the same id in every mode.
                tasks.Add(SendOneAsync(client, planned, "perf-" + tasks.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), s, runStart, slots, drainCts.Token));
                sent++;
            }
            progress?.Invoke(FormattableString.Invariant($"  stage {s + 1}/{spec.Stages.Length}: {stage.Rate:0.##} req/s x {stage.Seconds:0.#} s, sent {sent}, in flight {spec.MaxConcurrency - slots.CurrentCount}"));
            stageStart = stageEnd + (s + 1 < spec.Stages.Length ? spec.StageGap : 0);
            double ahead = stageStart - Stopwatch.GetElapsedTime(runStart).TotalSeconds;
            if (ahead > 0.001)
                await Task.Delay(TimeSpan.FromSeconds(ahead), cancellationToken).ConfigureAwait(false);
        }
        Task all = Task.WhenAll(tasks);
        if (await Task.WhenAny(all, Task.Delay(drainTimeout, cancellationToken)).ConfigureAwait(false) != all)
        {
            progress?.Invoke("  drain timeout: cancelling " + (spec.MaxConcurrency - slots.CurrentCount) + " request(s) still in flight");
            drainCts.Cancel();
        }
        RequestResult[] results = await Task.WhenAll(tasks).ConfigureAwait(false);
        return results;
    }

    /// <summary>
    /// Arrival offsets within a stage. Poisson: a Poisson process at the stage rate. Constant (inference-perf's
    /// constant timer): exactly floor(rate × duration) requests whose exponential gaps are rescaled to fill the stage.
    /// </summary>
    public static double[] ArrivalTimes(Stage stage, ArrivalKind kind, Random random)
    {
        var list = new List<double>();
        if (kind == ArrivalKind.Poisson)
        {
            double t = 0;
            while (true)
            {
                t += -Math.Log(1.0 - random.NextDouble()) / stage.Rate;
                if (t >= stage.Seconds)
                    break;
                list.Add(t);
            }
            return list.ToArray();
        }
        int n = (int)(stage.Rate * stage.Seconds);
        var gaps = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += gaps[i] = -Math.Log(1.0 - random.NextDouble());
        double acc = 0;
        var times = new double[n];
        for (int i = 0; i < n; i++)
        {
            times[i] = acc / sum * stage.Seconds; // the first request at the stage start, the rest spread over it
            acc += gaps[i];
        }
        return times;
    }

    private static async Task<RequestResult> SendOneAsync(StreamingClient client, PlannedRequest planned, string requestId, int stage, long runStart,
        SemaphoreSlim slots, CancellationToken ct)
    {
        try
        {
            await Task.Yield(); // do not run the request on the arrival loop
            RequestResult r = await client.SendAsync(planned.Body, runStart, ct, requestId).ConfigureAwait(false);
            r.Stage = stage;
            return r;
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>
    /// Closed loop (the #2928 harness): <paramref name="concurrency"/> workers each send the next body as soon as
    /// the previous response ended, for <paramref name="duration"/>; results of the first <paramref name="warmup"/>
    /// are dropped.
    /// </summary>
    public static async Task<(RequestResult[] Results, int Total)> RunClosedLoopAsync(Func<int, byte[]> bodies, StreamingClient client,
        int concurrency, TimeSpan warmup, TimeSpan duration, CancellationToken cancellationToken)
    {
        long runStart = Stopwatch.GetTimestamp();
        double from = warmup.TotalSeconds, to = (warmup + duration).TotalSeconds;
        var perWorker = new List<RequestResult>[concurrency];
        var workers = new Task[concurrency];
        int counter = 0, total = 0;
        for (int w = 0; w < concurrency; w++)
        {
            var list = perWorker[w] = new List<RequestResult>(256);
            workers[w] = Task.Run(async () =>
            {
                while (Stopwatch.GetElapsedTime(runStart).TotalSeconds < to && !cancellationToken.IsCancellationRequested)
                {
                    RequestResult r = await client.SendAsync(bodies(Interlocked.Increment(ref counter)), runStart, cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref total);
                    if (r.SentAt >= from && r.FinishedAt <= to)
                        list.Add(r);
                }
            }, cancellationToken);
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
        var all = new List<RequestResult>();
        foreach (List<RequestResult> l in perWorker)
            all.AddRange(l);
        return (all.ToArray(), total);
    }
}
