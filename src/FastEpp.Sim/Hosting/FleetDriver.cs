namespace FastEpp.Sim.Hosting;

/// <summary>
/// Runs every replica's engine against the shared virtual clock on one dedicated thread. Each wake-up advances
/// every engine to "now" — running, in simulated time, every step that fell due, so when the wall clock is behind
/// (a busy box, a small time scale) steps are aggregated and simulated time stays faithful — then sleeps until
/// the earliest next step end (at least 1 ms of wall time: cheap on a shared 2-core box) or until a request reaches
/// an idle engine. One thread for the whole fleet keeps wake-ups and context switches low with many replicas.
/// </summary>
internal sealed class FleetDriver : IDisposable
{
    private readonly Replica[] _replicas;
    private readonly SimClock _clock;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private volatile bool _stop;

    /// <summary>Creates the driver (not started).</summary>
    public FleetDriver(Replica[] replicas, SimClock clock)
    {
        _replicas = replicas;
        _clock = clock;
        _thread = new Thread(Run) { IsBackground = true, Name = "fastepp-sim engine driver" };
    }

    /// <summary>Starts the driver thread.</summary>
    public void Start() => _thread.Start();

    /// <summary>Wakes the driver (a request reached an idle engine, or a replica was revived).</summary>
    public void Wake() => _wake.Set();

    /// <summary>Stops the thread and waits for it.</summary>
    public void Dispose()
    {
        _stop = true;
        _wake.Set();
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
        _wake.Dispose();
    }

    private void Run()
    {
        while (!_stop)
        {
            double now = _clock.Now;
            double next = double.PositiveInfinity;
            foreach (Replica replica in _replicas)
            {
                lock (replica.Lock)
                {
                    if (replica.Killed)
                    {
                        continue;
                    }
                    replica.Engine.AdvanceTo(now);
                    next = Math.Min(next, replica.Engine.NextEventTime);
                }
            }
            if (double.IsPositiveInfinity(next))
            {
                _wake.WaitOne();
                continue;
            }
            double waitMs = (next - _clock.Now) * _clock.TimeScale * 1000.0;
            if (waitMs > 0)
            {
                _wake.WaitOne((int)Math.Min(int.MaxValue, Math.Ceiling(waitMs)));
            }
        }
    }
}
