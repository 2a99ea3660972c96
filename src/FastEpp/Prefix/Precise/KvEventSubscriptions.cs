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
/// </summary>
internal sealed class KvEventSubscriptions : IKvMessageHandler, IAsyncDisposable
{
    private sealed class Lane(KvEventIngestor ingestor)
    {
        public readonly Lock Lock = new();
        public readonly KvEventIngestor Ingestor = ingestor;
    }

    private sealed record Subscription(EndpointStream Stream, ZmtpSubscriber Subscriber, Lane Lane, string Name);

    private readonly PreciseIndex _index;
    private readonly Lane[] _lanes;
    private readonly int _socketPort;
    private readonly int _portOffset;
    private readonly byte[] _topicFilter;
    private readonly PreciseCounters _counters;
    private readonly ConcurrentDictionary<int, Subscription> _byEndpoint = new();
    private readonly ConcurrentDictionary<int, byte> _warnedNoStream = new();
    private readonly Lock _reconcileLock = new();
    private long _reconciledVersion = -1;
    private bool _disposed;

    /// <param name="portOffset">FastEpp's own: when non-zero, each endpoint's publisher is at its serving port + this offset
    /// (many engines on one host, e.g. simulators on loopback), instead of the common <paramref name="socketPort"/>.</param>
    public KvEventSubscriptions(PreciseIndex index, int blockSize, ulong root, int concurrency, int socketPort,
        ReadOnlySpan<byte> topicFilter, PreciseCounters counters, int portOffset = 0)
    {
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
    public bool HasStream(int endpointId) => _byEndpoint.TryGetValue(endpointId, out Subscription? s) && s.Subscriber.Connected;

    /// <summary>Connections made so far to the endpoint's publisher (0 = never connected).</summary>
    public int Connections(int endpointId) => _byEndpoint.TryGetValue(endpointId, out Subscription? s) ? s.Subscriber.Connections : 0;

    /// <summary>The last sequence number applied for the endpoint (diagnostics and tests; read without the lane lock).</summary>
    public bool TryGetLastSeq(int endpointId, out ulong seq)
    {
        seq = 0;
        if (!_byEndpoint.TryGetValue(endpointId, out Subscription? s) || !s.Stream.HasSeq)
            return false;
        seq = s.Stream.LastSeq;
        return true;
    }

    /// <summary>Logs, once per endpoint until its stream comes up, that it is scored from the approximate index.</summary>
    public void WarnNoStream(Endpoint endpoint)
    {
        if (!_warnedNoStream.TryAdd(endpoint.State.Id, 0))
            return;
        string address = _byEndpoint.TryGetValue(endpoint.State.Id, out Subscription? s) ? s.Subscriber.Address : $"tcp://{endpoint.Address}:{PortOf(endpoint)}";
        Logger.LogWarning("Endpoint {Endpoint} has no KV-event stream ({Address} not connected): its prefix score comes from the approximate index until it has one",
            endpoint.Name, address);
    }

    /// <summary>Follows <paramref name="snapshot"/>: subscribes new endpoints, drops (and clears) departed ones. Idempotent per version.</summary>
    public void Reconcile(EndpointSnapshot snapshot)
    {
        List<Subscription>? removed = null;
        lock (_reconcileLock)
        {
            if (_disposed || snapshot.Version <= _reconciledVersion)
                return;
            _reconciledVersion = snapshot.Version;
            var live = new HashSet<int>();
            foreach (Endpoint e in snapshot.Endpoints)
            {
                int id = e.State.Id;
                live.Add(id);
                if (_byEndpoint.ContainsKey(id))
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
                _byEndpoint[id] = new Subscription(stream, sub, lane, e.Name);
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
        if (Find(source) is not { } s)
            return;
        _warnedNoStream.TryRemove(s.Stream.EndpointId, out _);
        Logger.LogInformation("KV-event stream of {Endpoint} connected ({Address})", s.Name, source.Address);
    }

    public void OnMessage(ZmtpSubscriber source, ReadOnlySpan<byte> topic, ulong seq, ReadOnlySpan<byte> payload)
    {
        if (source.Tag is not EndpointStream stream || !_byEndpoint.TryGetValue(stream.EndpointId, out Subscription? s) || s.Subscriber != source)
            return;
        lock (s.Lane.Lock)
            s.Lane.Ingestor.Apply(stream, topic, seq, payload);
    }

    public void OnMalformed(ZmtpSubscriber source, string reason) => _counters.Add(PreciseEvent.Malformed);

    public void OnDisconnected(ZmtpSubscriber source, string reason)
    {
        if (source.Tag is not EndpointStream stream || !_byEndpoint.TryGetValue(stream.EndpointId, out Subscription? s) || s.Subscriber != source)
            return;
        if (source.Connections == 0)
            return; // never connected: nothing was indexed
        lock (s.Lane.Lock)
        {
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
        foreach (var (_, s) in _byEndpoint)
            await s.Subscriber.DisposeAsync().ConfigureAwait(false);
        _byEndpoint.Clear();
    }
}
