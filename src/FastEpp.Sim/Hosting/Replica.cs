using FastEpp.Sim.Engine;
using FastEpp.Sim.KvEvents;
using FastEpp.Sim.Options;

namespace FastEpp.Sim.Hosting;

/// <summary>
/// One simulated server: its engine, its port, its faults. Every engine call happens under <see cref="Lock"/>
/// (the fleet driver advances the engine, request handlers submit and abort, /metrics reads).
/// </summary>
internal sealed class Replica
{
    private readonly EngineProfile _profile;
    private readonly Random _random;
    private long _nextId;
    private volatile bool _killed;
    private Func<Replica, KvEventPublisher>? _publisherFactory;
    private double _unixStartSeconds;

    /// <summary>Creates replica <paramref name="index"/> with a cold engine.</summary>
    public Replica(int index, EngineProfile profile, FaultOptions faults, int seed)
    {
        Index = index;
        _profile = profile;
        Faults = faults;
        _random = new Random(unchecked(seed * 7919 + index));
        Engine = new EngineCore(profile);
    }

    /// <summary>Replica number (0-based), also in the x-sim-replica header.</summary>
    public int Index { get; }

    /// <summary>Guards <see cref="Engine"/> and the random source.</summary>
    public object Lock { get; } = new();

    /// <summary>The engine (replaced by <see cref="Revive"/>).</summary>
    public EngineCore Engine { get; private set; }

    /// <summary>Fault injection of this replica.</summary>
    public FaultOptions Faults { get; }

    /// <summary>Bound port (known after start).</summary>
    public int Port { get; set; }

    /// <summary>host:port, the x-sim-endpoint header value.</summary>
    public string Endpoint { get; set; } = "";

    /// <summary>This replica's KV-event publisher (null when events are off or the replica is killed).</summary>
    public KvEventPublisher? KvEvents { get; private set; }

    /// <summary>True while killed: every non-admin request has its connection aborted.</summary>
    public bool Killed => _killed;

    /// <summary>Next request number.</summary>
    public long NextRequestId() => Interlocked.Increment(ref _nextId);

    /// <summary>A seeded uniform draw in [0, 1).</summary>
    public double NextDouble()
    {
        lock (Lock)
        {
            return _random.NextDouble();
        }
    }

    /// <summary>A seeded uniform draw in [1, max].</summary>
    public int NextLength(int max)
    {
        lock (Lock)
        {
            return _random.Next(1, max + 1);
        }
    }

    /// <summary>Kills the replica: drops every request (their handlers reset their connections).</summary>
    public void Kill()
    {
        lock (Lock)
        {
            _killed = true;
            Engine.AbortAll();
            DetachEvents();   // a dead engine's publisher is gone; its sequence numbers die with it
        }
    }

    /// <summary>
    /// Starts publishing KV events: <paramref name="factory"/> makes this replica's publisher now and again after
    /// every <see cref="Revive"/> (a restarted engine numbers its batches from 0 again, like vLLM).
    /// </summary>
    public void StartKvEvents(Func<Replica, KvEventPublisher> factory, double unixStartSeconds)
    {
        lock (Lock)
        {
            _publisherFactory = factory;
            _unixStartSeconds = unixStartSeconds;
            if (!_killed)
            {
                AttachEvents();
            }
        }
    }

    /// <summary>Stops publishing (fleet shutdown): queued batches are sent, the sockets closed.</summary>
    public void StopKvEvents()
    {
        lock (Lock)
        {
            _publisherFactory = null;
            DetachEvents();
        }
    }

    private void AttachEvents()
    {
        KvEvents = _publisherFactory!(this);
        Engine.Kv.Events = new KvEventRecorder(KvEvents, _unixStartSeconds);
    }

    private void DetachEvents()
    {
        Engine.Kv.Events = null;
        KvEvents?.Dispose();
        KvEvents = null;
    }

    /// <summary>Brings a killed replica back with a cold engine (empty KV cache, zeroed counters), like a restart.</summary>
    public void Revive()
    {
        lock (Lock)
        {
            if (_killed)
            {
                Engine = new EngineCore(_profile);
                if (_publisherFactory is not null)
                {
                    AttachEvents();
                }
                _killed = false;
            }
        }
    }
}
