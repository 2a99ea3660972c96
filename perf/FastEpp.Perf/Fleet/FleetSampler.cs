using System.Diagnostics;
using FastEpp.Perf.Report;
using FastEpp.Sim.Engine;
using FastEpp.Sim.Hosting;

namespace FastEpp.Perf.Fleet;

/// <summary>
/// Samples every replica of the in-process fleet at a fixed period (queue length, running requests, KV use, prefix-cache
/// hit rate over the last 5 samples), reading the engine under its lock as the replica itself does: the data behind
/// the report's per-replica timelines. Runs on its own task until disposed.
/// </summary>
internal sealed class FleetSampler : IAsyncDisposable
{
    private readonly Replica[] _replicas;
    // The prefix-hit counters of the last HitWindow samples per replica (a ring): the hit rate is over that window.
    private const int HitWindow = 5;
    private readonly long[,] _hits, _queries;
    private int _taken;
    private readonly List<ReplicaSample> _samples = new(1024);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly long _start = Stopwatch.GetTimestamp();

    public FleetSampler(Replica[] replicas, TimeSpan period)
    {
        _replicas = replicas;
        _hits = new long[replicas.Length, HitWindow];
        _queries = new long[replicas.Length, HitWindow];
        Sample();
        _loop = LoopAsync(period);
    }

    /// <summary>The samples so far, oldest first (a copy).</summary>
    public List<ReplicaSample> Samples
    {
        get
        {
            lock (_samples)
                return new List<ReplicaSample>(_samples);
        }
    }

    /// <summary>Takes one sample of every replica now.</summary>
    public void Sample()
    {
        lock (_samples) // the timer and a final explicit sample may overlap
        {
            double t = Stopwatch.GetElapsedTime(_start).TotalSeconds;
            for (int i = 0; i < _replicas.Length; i++)
            {
                Replica r = _replicas[i];
                var s = new ReplicaSample { T = t, Replica = i };
                lock (r.Lock)
                {
                    EngineCore e = r.Engine;
                    s.Waiting = e.WaitingCount;
                    s.Running = e.RunningCount;
                    s.KvUsage = e.Kv.Usage;
                    long hits = e.Stats.PrefixHits, queries = e.Stats.PrefixQueries;
                    int oldest = _taken % HitWindow; // HitWindow samples ago (zeros before the first)
                    // A revived replica starts a new engine whose counters restart at 0.
                    long h0 = queries < _queries[i, oldest] ? 0 : _hits[i, oldest], q0 = queries < _queries[i, oldest] ? 0 : _queries[i, oldest];
                    if (queries > q0)
                        s.PrefixHitRate = (double)(hits - h0) / (queries - q0);
                    _hits[i, oldest] = hits;
                    _queries[i, oldest] = queries;
                }
                _samples.Add(s);
            }
            _taken++;
        }
    }

    private async Task LoopAsync(TimeSpan period)
    {
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                Sample();
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
