using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.Body;
using FastEpp.Configuration;
using FastEpp.Endpoints;
using Endpoint = FastEpp.Endpoints.Endpoint;
using FastEpp.Prefix.Precise;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Scheduling.Producers;

/// <summary>A plugin that follows the datastore's endpoints from start-up (EppHost attaches it) and stops with the host.</summary>
internal interface IEndpointFollower : IAsyncDisposable
{
    void Attach(EndpointRegistry registry, ILoggerFactory loggerFactory);
}

/// <summary>
/// <c>precise-prefix-cache-producer</c> (llm-d's name and parameters, routing.md §2–§4): prefix-match info from the
/// engines' own KV-cache events. Per endpoint, a ZMQ SUB to <c>tcp://&lt;address&gt;:&lt;socketPort&gt;</c> feeds a bounded
/// <see cref="PreciseIndex"/> of which endpoint holds which token blocks (FastEpp's keys over token ids). Per request:
/// the model server renders the prompt into token ids (chat template included), the ids become block keys, and each
/// candidate's longest held prefix is written into the request scratch exactly as <c>approx-prefix-cache-producer</c>
/// writes it — so <c>prefix-cache-scorer</c> (and everything else that reads prefix-match info) works unchanged.
/// Fallbacks, never silent zeros: a candidate without a live event stream is scored from an embedded approximate index
/// (counted, logged once); a request whose tokenization fails is scored wholly from it (counted).
/// With <c>speculativeIndexing</c>, PreRequest adds the routed request's keys for the chosen endpoint until the
/// engine's BlockStored confirms them or <c>speculativeTTL</c> passes.
/// </summary>
internal sealed class PrecisePrefixCacheProducer : IDataProducer, IAsyncPreparer, IPreRequest, Metrics.DataSources.IDataExtractor, IEndpointFollower
{
    public const int DefaultBlockSizeTokens = 16;
    public const long DefaultIndexSize = 100_000_000;
    public const int DefaultPodCacheSize = 10;
    public const int DefaultConcurrency = 4;
    public const int DefaultSocketPort = 5557;
    public const string DefaultTopicFilter = "kv@";
    public static readonly TimeSpan DefaultSpeculativeTtl = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan DefaultTokenizeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Its EndpointPickerConfig type and how the loader builds one from its parameters.</summary>
    public static readonly PluginType Type = new("precise-prefix-cache-producer", Create);

    private readonly ApproxPrefixCacheProducer _approx;
    private readonly VllmTokenizer _tokenizer;
    private readonly ulong _root;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<int, string> _baseUris = new();
    private readonly ConcurrentDictionary<string, byte> _withoutRender = new(StringComparer.Ordinal);
    private long _seenVersion = -1;
    private EndpointRegistry? _registry;
    private ILogger _logger = NullLogger.Instance;
    private long _lastTokenizeWarning;
    private int _renderTurn;

    public PrecisePrefixCacheProducer(string name, PreciseOptions options, Observability.EppMetrics? metrics = null, TimeProvider? time = null)
    {
        Name = name;
        Options = options;
        _time = time ?? TimeProvider.System;
        Counters = new PreciseCounters(metrics);
        Index = new PreciseIndex(options.IndexSize, options.PodCacheSize);
        _root = TokenBlockKeys.Root(Encoding.UTF8.GetBytes(options.HashSeed));
        Subscriptions = new KvEventSubscriptions(Index, options.BlockSizeTokens, _root, options.Concurrency, options.SocketPort,
            Encoding.UTF8.GetBytes(options.TopicFilter), Counters, options.PortOffset, options.DiscoverPods, options.CentralHost, options.CentralPort,
            replaySocketPort: options.ReplaySocketPort);
        _approx = new ApproxPrefixCacheProducer(name + "/approx") { Metrics = metrics };
        _tokenizer = new VllmTokenizer(options.TokenizeTimeout);
    }

    public string TypeName => Type.Name;

    public string Name { get; }

    public PreciseOptions Options { get; }

    public PreciseIndex Index { get; }

    public PreciseCounters Counters { get; }

    public KvEventSubscriptions Subscriptions { get; }

    /// <summary>The approximate index used for endpoints without an event stream and when tokenization fails.</summary>
    public Prefix.PrefixIndex ApproxIndex => _approx.Index;

    /// <summary>llm-d's token-producer (a fixed render server and model name), set by the loader; null = render at the candidate.</summary>
    public TokenProducer? TokenSource { get; set; }

    /// <summary>Approximate records not yet applied (tests wait for 0).</summary>
    public long PendingApproxRecords => _approx.PendingRecords;

    private static PrecisePrefixCacheProducer Create(string name, PluginParameters p, PluginContext c) =>
        new(name, PreciseOptions.Parse(p), c.Metrics, c.Time);

    public void Attach(EndpointRegistry registry, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger("FastEpp.PrecisePrefix");
        Subscriptions.Logger = _logger;
        _registry = registry;
        registry.Changed += Subscriptions.Reconcile;
        Subscriptions.Reconcile(registry.Current);
        if (Options.DiscoverPods)
            _logger.LogInformation("precise-prefix-cache-producer: subscribing to every endpoint's KV events on {Port} (topic filter \"{Filter}\", block size {BlockSize}, {Lanes} lanes, {Replay})",
                Options.PortOffset != 0 ? "its port + " + Options.PortOffset.ToString(System.Globalization.CultureInfo.InvariantCulture) : "port " + Options.SocketPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Options.TopicFilter, Options.BlockSizeTokens, Options.Concurrency,
                Options.ReplaySocketPort > 0 ? "replay at port " + Options.ReplaySocketPort.ToString(System.Globalization.CultureInfo.InvariantCulture) : "no replay: a gap or restart clears the endpoint");
        if (Subscriptions.Listener is { } listener)
            _logger.LogInformation("precise-prefix-cache-producer: engines that connect publish to {Address}; their topic pod-id (kv@<address:port>@<model>) names the endpoint (topic filter \"{Filter}\", block size {BlockSize})",
                listener.Address, Options.TopicFilter, Options.BlockSizeTokens);
    }

    /// <summary>
    /// Before the scheduling cycle (<see cref="IAsyncPreparer"/>): when a candidate has a live event stream, render the
    /// request into token ids at one of them, in rotation (so tokenization load spreads over the pool), or at the
    /// token-producer's server. The HTTP call is awaited by the stream, off any thread; <see cref="Prepare"/> reads the
    /// ids from <see cref="SchedulingRequest.Tokens"/>. Null (nothing to await) when no candidate has a stream.
    /// </summary>
    public Task? BeginPrepare(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates)
    {
        ObserveSnapshot(snapshot);
        request.Tokens.Count = PromptTokens.NotPrepared;
        int streams = 0;
        for (int i = 0; i < candidates.Length; i++)
            if (Subscriptions.HasStream(snapshot.Endpoints[candidates[i]].State.Id))
                streams++;
        if (streams == 0)
            return null;
        int pick = (int)((uint)Interlocked.Increment(ref _renderTurn) % (uint)streams);
        Endpoint? server = null;
        for (int i = 0; i < candidates.Length && server is null; i++)
            if (Subscriptions.HasStream(snapshot.Endpoints[candidates[i]].State.Id) && pick-- == 0)
                server = snapshot.Endpoints[candidates[i]];
        if (server is null)
            return null; // a stream went down between the two loops: Prepare keeps the approximate data

        ParsedRequest? body = request.Body;
        string? path = body is null || body.Format != BodyFormat.Json ? null : VllmTokenizer.RenderPath(body.Api);
        if (path is null)
        {
            request.Tokens.Count = PromptTokens.Failed;
            Counters.Add(PreciseEvent.TokenizeFallback);
            return null;
        }
        TokenProducer? source = TokenSource;
        string baseUri = source?.Url ?? _baseUris.GetOrAdd(server.State.Id, static (_, e) => "http://" + e.HostPort, server);
        // The server knows the target model (the body is rewritten the same way when it is forwarded), or the
        // token-producer's modelName.
        string model = source?.ModelName ?? request.TargetModel;
        ReadOnlySequence<byte> bytes = request.BodyBytes;
        ArrayPoolBufferWriter<byte>? rewritten = null;
        ReadOnlyMemory<byte> content;
        if (!string.Equals(model, body!.Model, StringComparison.Ordinal))
        {
            rewritten = new ArrayPoolBufferWriter<byte>((int)Math.Min(int.MaxValue, bytes.Length + model.Length * 6 + 16));
            RequestBodyWriter.WriteWithModel(bytes, body, model, rewritten);
            content = rewritten.WrittenMemory;
        }
        else
            content = bytes.IsSingleSegment ? bytes.First : bytes.ToArray(); // the director makes bodies contiguous
        return TokenizeAsync(request.Tokens, source?.Tokenizer ?? _tokenizer, baseUri, path, content, rewritten);
    }

    /// <summary>The request's token ids from the model server into <paramref name="tokens"/>; a failure leaves <see cref="PromptTokens.Failed"/> (counted, logged). Never throws.</summary>
    private async Task TokenizeAsync(PromptTokens tokens, VllmTokenizer tokenizer, string baseUri, string path, ReadOnlyMemory<byte> content,
        ArrayPoolBufferWriter<byte>? rewritten)
    {
        try
        {
            // vLLM before the render routes (or a server without a renderer): its /tokenize takes the same bodies.
            bool noRender = _withoutRender.ContainsKey(baseUri);
            (int n, string? error) = await tokenizer.TokenizeAsync(baseUri, noRender ? VllmTokenizer.TokenizePath : path, content, tokens).ConfigureAwait(false);
            if (n == VllmTokenizer.RouteMissing && !noRender)
            {
                _withoutRender.TryAdd(baseUri, 0);
                _logger.LogInformation("{Server} has no {Path} route: tokenizing at its {Tokenize} instead", baseUri, path, VllmTokenizer.TokenizePath);
                (n, error) = await tokenizer.TokenizeAsync(baseUri, VllmTokenizer.TokenizePath, content, tokens).ConfigureAwait(false);
            }
            if (n < 0)
            {
                tokens.Count = PromptTokens.Failed;
                Counters.Add(PreciseEvent.TokenizeFallback);
                long now = Environment.TickCount64;
                long last = Interlocked.Read(ref _lastTokenizeWarning);
                if (now - last > 10_000 && Interlocked.CompareExchange(ref _lastTokenizeWarning, now, last) == last)
                    _logger.LogWarning("Tokenizing a request at {Server} failed ({Error}): scored from the approximate index (further failures counted in fastepp_precise_prefix_total{{event=\"tokenize_fallback\"}}, logged at most every 10 s)",
                        baseUri, error);
                return;
            }
            tokens.Count = n;
            Counters.Add(PreciseEvent.Tokenized);
        }
        catch (Exception e)
        {
            tokens.Count = PromptTokens.Failed;
            Counters.Add(PreciseEvent.TokenizeFallback);
            _logger.LogWarning(e, "Tokenizing a request at {Server} failed unexpectedly: scored from the approximate index", baseUri);
        }
        finally
        {
            rewritten?.Dispose();
        }
    }

    public void Prepare(in SchedulingContext ctx, ReadOnlySpan<int> candidates)
    {
        EndpointSnapshot snapshot = ctx.Snapshot;
        ObserveSnapshot(snapshot);
        _approx.Prepare(ctx, candidates);
        if (candidates.IsEmpty)
            return;
        if (Options.SpeculativeIndexing && Index.PendingSpeculative > 0)
            Index.ExpireSpeculative(_time.GetTimestamp());

        // Which candidates have a live stream; the others keep their approximate data.
        int streams = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            Endpoint e = snapshot.Endpoints[candidates[i]];
            if (Subscriptions.HasStream(e.State.Id))
                streams++;
            else
            {
                Counters.Add(PreciseEvent.NoStreamFallback);
                Subscriptions.WarnNoStream(e);
            }
        }
        if (streams == 0)
            return;

        // The token ids come from BeginPrepare (awaited by the request path before this synchronous cycle).
        SchedulingRequest request = ctx.Request;
        PromptTokens tokens = request.Tokens;
        int tokenCount = tokens.Count;
        if (tokenCount < 0)
        {
            // Not prepared (a stream came up while the render call was skipped, or a caller that schedules without
            // the asynchronous step): the approximate data, counted — never a blocking HTTP call here.
            if (tokenCount == PromptTokens.NotPrepared)
                Counters.Add(PreciseEvent.TokenizeFallback);
            return;
        }

        RequestScratch scratch = ctx.Scratch;
        int blockSize = Options.BlockSizeTokens;
        int n = tokenCount / blockSize;
        Span<ulong> keys = scratch.PreciseKeys(Math.Max(n, 1));
        ReadOnlySpan<byte> model = ModelUtf8(scratch, request.TargetModel);
        ulong start = TokenBlockKeys.ChainStart(_root, model);
        ReadOnlySpan<byte> salt = request.Body is { } body ? body.CacheSaltUtf8.Span : default;
        n = TokenBlockKeys.Chain(start, tokens.Ids.AsSpan(0, tokenCount), blockSize, salt, keys);
        scratch.PreciseKeyCount = n;

        Span<int> ids = scratch.Ids(candidates.Length);
        for (int i = 0; i < candidates.Length; i++)
            ids[i] = snapshot.Endpoints[candidates[i]].State.Id;
        Span<int> counts = scratch.MatchCounts(candidates.Length);
        Index.Match(keys[..n], ids, counts);

        // Endpoints without a stream: their approximate ratio, in this request's precise blocks.
        int approxTotal = scratch.PrefixTotalBlocks;
        for (int i = 0; i < candidates.Length; i++)
        {
            ref int match = ref scratch.PrefixMatch(candidates[i]);
            if (Subscriptions.HasStream(ids[i]))
                match = counts[i];
            else
                match = approxTotal > 0 ? (int)Math.Round((double)match * n / approxTotal) : 0;
        }
        scratch.HasPrefixData = true;
        scratch.PrefixTotalBlocks = n;
        scratch.PrefixBlockSizeTokens = blockSize;
    }

    private static ReadOnlySpan<byte> ModelUtf8(RequestScratch scratch, string model)
    {
        int max = Encoding.UTF8.GetMaxByteCount(model.Length);
        if (scratch.ModelUtf8Buffer.Length < max)
            scratch.ModelUtf8Buffer = new byte[Math.Max(max, scratch.ModelUtf8Buffer.Length * 2)];
        int written = Encoding.UTF8.GetBytes(model, scratch.ModelUtf8Buffer);
        return scratch.ModelUtf8Buffer.AsSpan(0, written);
    }

    public void PreRequest(SchedulingRequest request, RequestScratch scratch, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        _approx.PreRequest(request, scratch, snapshot, chosen);
        if (!Options.SpeculativeIndexing || scratch.PreciseKeyCount == 0 || chosen.IsEmpty || (uint)chosen[0] >= (uint)snapshot.Count)
            return;
        long expires = _time.GetTimestamp() + (long)(Options.SpeculativeTtl.TotalSeconds * _time.TimestampFrequency);
        Index.AddSpeculative(scratch.PreciseKeyChain, snapshot.Endpoints[chosen[0]].State.Id, expires);
        scratch.PreciseKeyCount = 0;
    }

    /// <summary>First sight of a new snapshot version when no registry is attached (hand-built schedulers): follow it off the request path.</summary>
    private void ObserveSnapshot(EndpointSnapshot snapshot)
    {
        if (_registry is not null)
            return;
        long seen = Volatile.Read(ref _seenVersion);
        if (snapshot.Version <= seen || Interlocked.CompareExchange(ref _seenVersion, snapshot.Version, seen) != seen)
            return;
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Subscriptions.Reconcile(s.Snapshot), (Subscriptions, Snapshot: snapshot), preferLocal: false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_registry is { } registry)
            registry.Changed -= Subscriptions.Reconcile;
        await Subscriptions.DisposeAsync().ConfigureAwait(false);
        _tokenizer.Dispose();
        TokenSource?.Dispose();
    }
}

/// <summary>The validated parameters of <see cref="PrecisePrefixCacheProducer"/>; anything it cannot honour is refused at start-up.</summary>
internal sealed record PreciseOptions
{
    public int BlockSizeTokens { get; init; } = PrecisePrefixCacheProducer.DefaultBlockSizeTokens;
    public string HashSeed { get; init; } = "";
    public long IndexSize { get; init; } = PrecisePrefixCacheProducer.DefaultIndexSize;
    public int PodCacheSize { get; init; } = PrecisePrefixCacheProducer.DefaultPodCacheSize;
    public string TopicFilter { get; init; } = PrecisePrefixCacheProducer.DefaultTopicFilter;
    public int Concurrency { get; init; } = PrecisePrefixCacheProducer.DefaultConcurrency;
    public int SocketPort { get; init; } = PrecisePrefixCacheProducer.DefaultSocketPort;
    /// <summary>FastEpp's own <c>kvEventsPortOffset</c>: publisher port = endpoint port + offset (0 = use socketPort).</summary>
    public int PortOffset { get; init; }
    public bool SpeculativeIndexing { get; init; }
    public TimeSpan SpeculativeTtl { get; init; } = PrecisePrefixCacheProducer.DefaultSpeculativeTtl;
    public TimeSpan TokenizeTimeout { get; init; } = PrecisePrefixCacheProducer.DefaultTokenizeTimeout;
    /// <summary>llm-d's <c>discoverPods</c>: one SUB per endpoint.</summary>
    public bool DiscoverPods { get; init; } = true;
    /// <summary>llm-d's <c>zmqEndpoint</c>, parsed: the host to bind (<c>*</c> = all interfaces), or null for no central SUB.</summary>
    public string? CentralHost { get; init; }
    public int CentralPort { get; init; }
    /// <summary>llm-d's <c>podDiscoveryConfig.replaySocketPort</c> (0 = no replay).</summary>
    public int ReplaySocketPort { get; init; }

    private const string Prefix = "precise-prefix-cache-producer: ";

    public static PreciseOptions Parse(PluginParameters p)
    {
        var o = new PreciseOptions();

        PluginParameters token = Section(p, "tokenProcessorConfig");
        int blockSize = token.GetInt("blockSizeTokens", 0);
        int oldBlockSize = token.GetInt("blockSize", 0);
        blockSize = blockSize > 0 ? blockSize : oldBlockSize > 0 ? oldBlockSize : PrecisePrefixCacheProducer.DefaultBlockSizeTokens;
        if (blockSize > TokenBlockKeys.MaxStackBlockTokens * 4)
            throw new ConfigException(Prefix + $"tokenProcessorConfig.blockSizeTokens {blockSize} is larger than {TokenBlockKeys.MaxStackBlockTokens * 4}");
        if (token.Get("blockSizeTokens") is not null && token.GetInt("blockSizeTokens", 0) <= 0)
            throw new ConfigException(Prefix + "tokenProcessorConfig.blockSizeTokens must be > 0");
        string algorithm = token.GetString("hashAlgorithm", "cbor-fnv");
        if (algorithm is not ("cbor-fnv" or "xxh64" or ""))
            throw new ConfigException(Prefix + $"tokenProcessorConfig.hashAlgorithm \"{algorithm}\" is not one of cbor-fnv, xxh64");
        o = o with { BlockSizeTokens = blockSize, HashSeed = token.GetString("hashSeed", "") };

        PluginParameters indexer = Section(p, "indexerConfig");
        if (indexer.Get("tokenizersPoolConfig") is not null)
            throw new ConfigException(Prefix + "indexerConfig.tokenizersPoolConfig is not supported (as in llm-d): tokens come from the model server's render endpoint");
        if (indexer.Get("kvCacheBackendConfigs") is not null)
            throw new ConfigException(Prefix + "indexerConfig.kvCacheBackendConfigs is not supported: FastEpp indexes GPU-tier blocks only (weight 1.0)");
        PluginParameters blockIndex = Section(indexer, "kvBlockIndexConfig");
        if (blockIndex.Get("redisConfig") is not null || blockIndex.Get("valkeyConfig") is not null)
            throw new ConfigException(Prefix + "indexerConfig.kvBlockIndexConfig.redisConfig is not supported: FastEpp's index is in memory");
        if (blockIndex.Get("costAwareMemoryConfig") is not null)
            throw new ConfigException(Prefix + "indexerConfig.kvBlockIndexConfig.costAwareMemoryConfig is not supported: use inMemoryConfig");
        if (blockIndex.GetBool("enableMetrics", false))
            throw new ConfigException(Prefix + "indexerConfig.kvBlockIndexConfig.enableMetrics is not supported: FastEpp exports fastepp_precise_prefix_total instead");
        PluginParameters inMemory = Section(blockIndex, "inMemoryConfig");
        long size = inMemory.GetLong("size", PrecisePrefixCacheProducer.DefaultIndexSize);
        int pods = inMemory.GetInt("podCacheSize", PrecisePrefixCacheProducer.DefaultPodCacheSize);
        if (size <= 0)
            throw new ConfigException(Prefix + "indexerConfig.kvBlockIndexConfig.inMemoryConfig.size must be > 0");
        if (pods is <= 0 or > 1024)
            throw new ConfigException(Prefix + "indexerConfig.kvBlockIndexConfig.inMemoryConfig.podCacheSize must be in 1..1024");
        o = o with { IndexSize = size, PodCacheSize = pods };

        PluginParameters events = Section(p, "kvEventsConfig");
        // llm-d: zmqEndpoint ⇒ one SUB that binds there (engines connect); discoverPods ⇒ one SUB per pod. Independent:
        // both may be on (the default discoverPods is true), neither means no events at all (refused here).
        string central = events.GetString("zmqEndpoint", "");
        bool discoverPods = events.GetBool("discoverPods", true);
        string? centralHost = null;
        int centralPort = 0;
        if (central.Length > 0 && !TryParseBindEndpoint(central, out centralHost, out centralPort, out string? why))
            throw new ConfigException(Prefix + $"kvEventsConfig.zmqEndpoint \"{central}\" {why}");
        if (!discoverPods && centralHost is null)
            throw new ConfigException(Prefix + "kvEventsConfig.discoverPods: false without kvEventsConfig.zmqEndpoint: no KV events would arrive (set zmqEndpoint, e.g. tcp://*:5557, for engines that connect to the EPP)");
        string engine = events.GetString("engineType", "vllm");
        if (engine is not ("vllm" or ""))
            throw new ConfigException(Prefix + $"kvEventsConfig.engineType \"{engine}\" is not supported (vllm only)");
        int concurrency = events.GetInt("concurrency", PrecisePrefixCacheProducer.DefaultConcurrency);
        if (concurrency is <= 0 or > 1024)
            throw new ConfigException(Prefix + "kvEventsConfig.concurrency must be in 1..1024");
        string topic = events.GetString("topicFilter", PrecisePrefixCacheProducer.DefaultTopicFilter);
        if (Encoding.UTF8.GetByteCount(topic) > 254)
            throw new ConfigException(Prefix + "kvEventsConfig.topicFilter is longer than 254 bytes");
        PluginParameters discovery = Section(events, "podDiscoveryConfig");
        int port = discovery.GetInt("socketPort", PrecisePrefixCacheProducer.DefaultSocketPort);
        if (port is <= 0 or > 65535)
            throw new ConfigException(Prefix + "kvEventsConfig.podDiscoveryConfig.socketPort must be a TCP port");
        int replayPort = discovery.GetInt("replaySocketPort", 0);
        if (replayPort > 65535)
            throw new ConfigException(Prefix + "kvEventsConfig.podDiscoveryConfig.replaySocketPort must be a TCP port (0 or less = no replay)");
        if (!discoverPods && (discovery.Get("socketPort") is not null || replayPort > 0 || p.GetInt("kvEventsPortOffset", 0) != 0))
            throw new ConfigException(Prefix + "kvEventsConfig.podDiscoveryConfig.socketPort/replaySocketPort and kvEventsPortOffset apply to per-pod subscriptions (discoverPods: true); with discoverPods: false they would do nothing (the central zmqEndpoint socket has no replay, as in llm-d)");
        if (replayPort > 0 && p.GetInt("kvEventsPortOffset", 0) != 0)
            throw new ConfigException(Prefix + "kvEventsConfig.podDiscoveryConfig.replaySocketPort and kvEventsPortOffset are exclusive (the replay port is common to all endpoints, as socketPort)");
        if (discovery.GetString("podLabelSelector", "").Length > 0 || discovery.GetString("podNamespace", "").Length > 0)
            throw new ConfigException(Prefix + "kvEventsConfig.podDiscoveryConfig.podLabelSelector/podNamespace are not supported: FastEpp subscribes to the InferencePool's endpoints");
        o = o with { DiscoverPods = discoverPods, CentralHost = centralHost, CentralPort = centralPort, ReplaySocketPort = Math.Max(0, replayPort) };
        o = o with { Concurrency = concurrency, TopicFilter = topic, SocketPort = port };

        int offset = p.GetInt("kvEventsPortOffset", 0);
        if (offset is < -65535 or > 65535)
            throw new ConfigException(Prefix + "kvEventsPortOffset must be in -65535..65535");
        if (offset != 0 && discovery.Get("socketPort") is not null)
            throw new ConfigException(Prefix + "kvEventsPortOffset and kvEventsConfig.podDiscoveryConfig.socketPort are exclusive");
        o = o with { PortOffset = offset };

        TimeSpan ttl = p.GetDuration("speculativeTTL", PrecisePrefixCacheProducer.DefaultSpeculativeTtl);
        if (ttl <= TimeSpan.Zero)
            throw new ConfigException(Prefix + "speculativeTTL must be > 0");
        TimeSpan timeout = p.GetDuration("tokenizeTimeout", PrecisePrefixCacheProducer.DefaultTokenizeTimeout);
        if (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromSeconds(60))
            throw new ConfigException(Prefix + "tokenizeTimeout must be in (0, 60s]");
        return o with { SpeculativeIndexing = p.GetBool("speculativeIndexing", false), SpeculativeTtl = ttl, TokenizeTimeout = timeout };
    }

    /// <summary><c>tcp://host:port</c> to bind: host <c>*</c>, an IP address (IPv6 in brackets) or a name; port 1..65535.</summary>
    internal static bool TryParseBindEndpoint(string endpoint, out string host, out int port, out string? why)
    {
        host = "";
        port = 0;
        why = null;
        if (!endpoint.StartsWith("tcp://", StringComparison.Ordinal))
        {
            why = "is not supported: only tcp://host:port (the engines' PUB connects to it over TCP; ipc:// and inproc:// publishers bind, they never connect)";
            return false;
        }
        string rest = endpoint["tcp://".Length..];
        int colon = rest.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(rest.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is <= 0 or > 65535)
        {
            why = "needs a TCP port in 1..65535 (tcp://*:5557)";
            return false;
        }
        host = rest[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
            host = host[1..^1];
        if (host.Length == 0 || host.Contains(';'))
        {
            why = "needs a host to bind: * (all interfaces), an IP address or a name";
            return false;
        }
        return true;
    }

    private static PluginParameters Section(PluginParameters p, string key) => p.Get(key) switch
    {
        null => PluginParameters.None,
        YamlMappingNode map => new PluginParameters(map),
        YamlNode node => throw new ConfigException($"json: cannot unmarshal {YamlValues.JsonKind(node)} into Go struct field .{key} of type object"),
    };
}
