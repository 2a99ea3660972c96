using System.Net.Sockets;
using System.Collections.Concurrent;
using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastEpp.Prefix.Precise;

/// <summary>
/// llm-d's per-pod subscriber mode (<c>discoverPods: true</c>, routing.md §2): one ZMQ SUB per endpoint, dialing
/// <c>tcp://&lt;address&gt;:&lt;socketPort&gt;</c>, created and removed as endpoints come and go in the datastore. Events
/// are applied on the subscriber's receive loop under one of <c>concurrency</c> lane locks (lane = FNV-1a-32 of the
/// endpoint's <c>address:port</c> mod concurrency, as llm-d shards its work queues), so each endpoint's events stay in
/// order and at most <c>concurrency</c> batches are applied at once. A disconnect clears the endpoint (the engine may
/// have restarted and renumbered from 0); so does an endpoint whose address changed (new <see cref="EndpointState"/>).
/// With <c>replaySocketPort</c>, a gap, a restart or a (re)connect asks the engine's replay socket for the batches
/// instead (<see cref="ReplayAsync"/>); only a failed replay clears.
/// llm-d's central mode (<c>zmqEndpoint</c>), alone or next to the per-pod SUBs: a <see cref="ZmtpListener"/> takes the
/// engines' connections, and each connection's topic pod-id names the endpoint its events are indexed for (same lanes).
/// </summary>
internal sealed partial class KvEventSubscriptions : IKvMessageHandler, IAsyncDisposable
{
    private sealed class Lane(KvEventIngestor ingestor)
    {
        public readonly Lock Lock = new();
        public readonly KvEventIngestor Ingestor = ingestor;
    }

    private sealed record Subscription(EndpointStream Stream, ZmtpSubscriber Subscriber, Lane Lane, string Name, string Host, int ReplayPort);

    private readonly PreciseIndex _index;
    private readonly Lane[] _lanes;
    private readonly int _socketPort;
    private readonly int _portOffset;
    private readonly byte[] _topicFilter;
    private readonly PreciseCounters _counters;
    private readonly ConcurrentDictionary<int, Subscription> _byEndpoint = new();
    private readonly ConcurrentDictionary<int, byte> _warnedNoStream = new();
    private readonly Lock _reconcileLock = new();
    private readonly bool _discoverPods;
    private readonly int _replaySocketPort;
    private readonly ZmtpListener? _listener;
    private long _reconciledVersion = -1;
    private bool _disposed;

    /// <param name="portOffset">FastEpp's own: when non-zero, each endpoint's publisher is at its serving port + this offset
    /// (many engines on one host, e.g. simulators on loopback), instead of the common <paramref name="socketPort"/>.</param>
    /// <param name="discoverPods">llm-d's <c>discoverPods</c>: one SUB per endpoint, dialing its publisher.</param>
    /// <param name="centralHost">With <paramref name="centralPort"/>: llm-d's <c>zmqEndpoint</c> — bind there and take the
    /// connections of every engine that publishes by connecting (null = no central listener). Both may be on, as in llm-d.</param>
    public KvEventSubscriptions(PreciseIndex index, int blockSize, ulong root, int concurrency, int socketPort,
        ReadOnlySpan<byte> topicFilter, PreciseCounters counters, int portOffset = 0, bool discoverPods = true,
        string? centralHost = null, int centralPort = 0, int maxCentralConnections = ZmtpListener.DefaultMaxConnections, int replaySocketPort = 0)
    {
        _discoverPods = discoverPods;
        _replaySocketPort = replaySocketPort;
        if (centralHost is not null)
            _listener = new ZmtpListener(centralHost, centralPort, topicFilter, this, NewCentralConnection, NullLogger.Instance, maxCentralConnections);
        _portOffset = portOffset;
        _index = index;
        _socketPort = socketPort;
        _topicFilter = topicFilter.ToArray();
        _counters = counters;
        _lanes = new Lane[Math.Max(1, concurrency)];
        for (int i = 0; i < _lanes.Length; i++)
            _lanes[i] = new Lane(new KvEventIngestor(index, blockSize, root, counters) { BlockSizeMismatch = OnBlockSizeMismatch });
    }

    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>The central listener (llm-d's <c>zmqEndpoint</c>), or null.</summary>
    public ZmtpListener? Listener => _listener;

    /// <summary>Publishers connected to the central listener now (attributed to an endpoint or not).</summary>
    public int CentralConnections => _central.Count;

    public int SocketPort => _socketPort;

    /// <summary>The KV-event port of an endpoint (the common socketPort, or its serving port + the offset; 0 = none).</summary>
    public int PortOf(Endpoint endpoint)
    {
        if (_portOffset == 0)
            return _socketPort;
        int port = endpoint.Port + _portOffset;
        return port is > 0 and <= 65535 ? port : 0;
    }

    /// <summary>Subscribed endpoints.</summary>
    public int Count => _byEndpoint.Count;

    /// <summary>True when the endpoint's event stream is up (handshake done, not disconnected since). Lock- and allocation-free.</summary>
    public bool HasStream(int endpointId) =>
        (_byEndpoint.TryGetValue(endpointId, out Subscription? s) && s.Subscriber.Connected)
        || (_centralByEndpoint.TryGetValue(endpointId, out CentralConnection? c) && c.Subscriber.Connected && c.Stream?.EndpointId == endpointId);

    /// <summary>Connections made so far to the endpoint's publisher (0 = never connected); central mode: 1 while one is attributed to it.</summary>
    public int Connections(int endpointId) =>
        _byEndpoint.TryGetValue(endpointId, out Subscription? s) ? s.Subscriber.Connections
        : _centralByEndpoint.TryGetValue(endpointId, out CentralConnection? c) && c.Stream?.EndpointId == endpointId ? 1 : 0;

    /// <summary>The last sequence number applied for the endpoint (diagnostics and tests; read without the lane lock).</summary>
    public bool TryGetLastSeq(int endpointId, out ulong seq)
    {
        seq = 0;
        EndpointStream? stream = _byEndpoint.TryGetValue(endpointId, out Subscription? s) ? s.Stream
            : _centralByEndpoint.TryGetValue(endpointId, out CentralConnection? c) ? c.Stream : null;
        if (stream is null || stream.EndpointId != endpointId || !stream.HasSeq)
            return false;
        seq = stream.LastSeq;
        return true;
    }

    /// <summary>Logs, once per endpoint until its stream comes up, that it is scored from the approximate index.</summary>
    public void WarnNoStream(Endpoint endpoint)
    {
        if (!_warnedNoStream.TryAdd(endpoint.State.Id, 0))
            return;
        string address = _byEndpoint.TryGetValue(endpoint.State.Id, out Subscription? s) ? s.Subscriber.Address + " not connected"
            : !_discoverPods && _listener is not null ? $"no publisher connected to {_listener.Address} with topic pod-id {endpoint.HostPort}"
            : $"tcp://{endpoint.Address}:{PortOf(endpoint)} not connected";
        Logger.LogWarning("Endpoint {Endpoint} has no KV-event stream ({Address}): its prefix score comes from the approximate index until it has one",
            endpoint.Name, address);
    }

    /// <summary>Follows <paramref name="snapshot"/>: subscribes new endpoints, drops (and clears) departed ones. Idempotent per version.</summary>
    public void Reconcile(EndpointSnapshot snapshot)
    {
        List<Subscription>? removed = null;
        HashSet<int> live;
        lock (_reconcileLock)
        {
            if (_disposed || snapshot.Version <= _reconciledVersion)
                return;
            _reconciledVersion = snapshot.Version;
            live = new HashSet<int>();
            foreach (Endpoint e in snapshot.Endpoints)
                live.Add(e.State.Id);
            if (_listener is not null)
            {
                Volatile.Write(ref _directory, BuildDirectory(snapshot));
                _listener.Logger = Logger;
                _listener.Start();
            }
            foreach (Endpoint e in snapshot.Endpoints)
            {
                int id = e.State.Id;
                if (!_discoverPods || _byEndpoint.ContainsKey(id))
                    continue;
                int port = PortOf(e);
                if (port == 0)
                {
                    Logger.LogWarning("Endpoint {Endpoint}: port {Port} + kvEventsPortOffset {Offset} is not a TCP port; no KV-event subscription", e.Name, e.Port, _portOffset);
                    continue;
                }
                string key = e.HostPort;
                Lane lane = _lanes[(int)(Fnv1a32(key) % (uint)_lanes.Length)];
                var stream = new EndpointStream(id, key);
                var sub = new ZmtpSubscriber(e.Address, port, _topicFilter, this, Logger, stream);
                _byEndpoint[id] = new Subscription(stream, sub, lane, e.Name, e.Address, _replaySocketPort);
                sub.Start();
            }
            foreach (var (id, s) in _byEndpoint)
            {
                if (live.Contains(id))
                    continue;
                _byEndpoint.TryRemove(id, out _);
                _warnedNoStream.TryRemove(id, out _);
                (removed ??= []).Add(s);
            }
        }
        // Central connections attributed to endpoints that left: cleared and detached now (a message from them
        // resolves its pod-id again and is counted as unknown).
        foreach (var (id, c) in _centralByEndpoint)
        {
            if (live.Contains(id))
                continue;
            lock (c.Gate)
            {
                if (c.Stream?.EndpointId == id)
                    Detach(c, "the endpoint left the pool");
                else
                    _centralByEndpoint.TryRemove(new KeyValuePair<int, CentralConnection>(id, c));
            }
        }
        if (removed is null)
            return;
        foreach (Subscription s in removed)
        {
            // Off the caller's thread: stop the loop, then clear (the loop applies nothing after it ends).
            _ = Task.Run(async () =>
            {
                await s.Subscriber.DisposeAsync().ConfigureAwait(false);
                lock (s.Lane.Lock)
                    s.Lane.Ingestor.Clear(s.Stream);
                Logger.LogInformation("KV-event subscription to {Endpoint} ({Address}) removed with the endpoint", s.Name, s.Subscriber.Address);
            });
        }
    }

    private static uint Fnv1a32(string s)
    {
        uint h = 2166136261;
        foreach (char c in s)
        {
            h ^= (byte)c;
            h *= 16777619;
        }
        return h;
    }

    private Subscription? Find(ZmtpSubscriber source) =>
        source.Tag is EndpointStream stream && _byEndpoint.TryGetValue(stream.EndpointId, out Subscription? s) && s.Subscriber == source ? s : null;

    public void OnConnected(ZmtpSubscriber source)
    {
        if (source.Tag is CentralConnection central)
        {
            _central[central] = 0;
            Logger.LogInformation("KV-event publisher {Remote} connected to {Listen}", source.Address, _listener!.Address);
            return;
        }
        if (Find(source) is not { } s)
            return;
        _warnedNoStream.TryRemove(s.Stream.EndpointId, out _);
        Logger.LogInformation("KV-event stream of {Endpoint} connected ({Address})", s.Name, source.Address);
        // (Re)connected: the engine may be a new process and what it published meanwhile is unknown — what was indexed
        // was cleared at the disconnect; rebuild from the engine's replay buffer (llm-d: proactive replay on connect).
        if (s.ReplayPort > 0 && CanReplay(s.Stream))
        {
            s.Stream.ReplayFrom = 0;
            source.RequestReplay();
        }
    }

    public void OnMessage(ZmtpSubscriber source, ReadOnlySpan<byte> topic, ulong seq, ReadOnlySpan<byte> payload)
    {
        if (source.Tag is CentralConnection c)
        {
            lock (c.Gate)
            {
                ReadOnlySpan<byte> podId = PodIdOf(topic);
                Directory directory = Volatile.Read(ref _directory);
                if (c.DirectoryVersion != directory.Version || !podId.SequenceEqual(c.PodId.AsSpan(0, Math.Max(c.PodIdLength, 0))) || c.PodIdLength < 0)
                    Resolve(c, podId, directory);
                if (c.Stream is not { } central)
                {
                    _counters.Add(PreciseEvent.UnknownPod);
                    return;
                }
                lock (c.Lane!.Lock)
                    c.Lane.Ingestor.Apply(central, topic, seq, payload);
            }
            return;
        }
        if (source.Tag is not EndpointStream stream || !_byEndpoint.TryGetValue(stream.EndpointId, out Subscription? s) || s.Subscriber != source)
            return;
        if (s.ReplayPort > 0)
        {
            OnMessageWithReplay(s, source, topic, seq, payload);
            return;
        }
        lock (s.Lane.Lock)
            s.Lane.Ingestor.Apply(stream, topic, seq, payload);
    }

    public void OnMalformed(ZmtpSubscriber source, string reason) => _counters.Add(PreciseEvent.Malformed);

    public void OnDisconnected(ZmtpSubscriber source, string reason)
    {
        if (source.Tag is CentralConnection c)
        {
            _central.TryRemove(c, out _);
            lock (c.Gate)
            {
                if (c.Stream is null)
                    return;
                Detach(c, "its publisher disconnected (" + reason + ")");
            }
            _counters.Add(PreciseEvent.Disconnects);
            return;
        }
        if (source.Tag is not EndpointStream stream || !_byEndpoint.TryGetValue(stream.EndpointId, out Subscription? s) || s.Subscriber != source)
            return;
        if (source.Connections == 0)
            return; // never connected: nothing was indexed
        lock (s.Lane.Lock)
        {
            stream.HasLiveSeq = false;
            if (!stream.HasSeq && stream.EngineToKey.Count == 0)
                return; // already cleared by an earlier failed attempt
            s.Lane.Ingestor.Clear(stream);
            stream.HasSeq = false;
        }
        _counters.Add(PreciseEvent.Disconnects);
    }

    private void OnBlockSizeMismatch(EndpointStream stream, int engineBlockSize) =>
        Logger.LogWarning("KV events of {Endpoint} have block_size {EngineBlockSize}, but tokenProcessorConfig.blockSizeTokens is {BlockSize}: its BlockStored events are dropped (set blockSizeTokens to vLLM's --block-size)",
            stream.Key, engineBlockSize, _lanes[0].Ingestor.BlockSize);

    public async ValueTask DisposeAsync()
    {
        lock (_reconcileLock)
            _disposed = true;
        if (_listener is not null)
            await _listener.DisposeAsync().ConfigureAwait(false);
        foreach (var (_, s) in _byEndpoint)
            await s.Subscriber.DisposeAsync().ConfigureAwait(false);
        _byEndpoint.Clear();
    }
}
