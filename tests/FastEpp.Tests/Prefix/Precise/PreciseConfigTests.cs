using FastEpp.Configuration;
using FastEpp.Scheduling.Producers;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>precise-prefix-cache-producer's parameters: llm-d's names and defaults load; what FastEpp cannot honour is refused at start-up.</summary>
public sealed class PreciseConfigTests
{
    private static string Config(string parameters, string scorerParameters = "{prefixMatchInfoProducerName: precise-prefix-cache-producer}", string extraPlugins = "") => $$"""
        apiVersion: inference.networking.x-k8s.io/v1alpha1
        kind: EndpointPickerConfig
        plugins:
        - type: precise-prefix-cache-producer
          parameters: {{parameters}}
        - type: prefix-cache-scorer
          parameters: {{scorerParameters}}
        {{extraPlugins}}
        schedulingProfiles:
        - name: default
          plugins:
          - {pluginRef: prefix-cache-scorer, weight: 3}
        """;

    private static PrecisePrefixCacheProducer Load(string parameters)
    {
        var loaded = ConfigLoader.Load(Config(parameters.ReplaceLineEndings(" ")));
        Assert.DoesNotContain(loaded.Plugins, p => p is ApproxPrefixCacheProducer); // no auto-created approx producer
        return loaded.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
    }

    [Fact]
    public void LlmdSampleConfig_Loads_WithItsValues()
    {
        var p = Load("""
            {tokenProcessorConfig: {blockSizeTokens: 64, hashSeed: "42", hashAlgorithm: xxh64},
             speculativeIndexing: true, speculativeTTL: 500ms,
             indexerConfig: {kvBlockIndexConfig: {inMemoryConfig: {size: 1000000, podCacheSize: 4}}},
             kvEventsConfig: {topicFilter: "kv@", concurrency: 8, engineType: vllm, discoverPods: true,
                              podDiscoveryConfig: {socketPort: 5556, replaySocketPort: 5557}}}
            """);
        PreciseOptions o = p.Options;
        Assert.Equal(5557, o.ReplaySocketPort);
        Assert.Equal(64, o.BlockSizeTokens);
        Assert.Equal("42", o.HashSeed);
        Assert.True(o.SpeculativeIndexing);
        Assert.Equal(TimeSpan.FromMilliseconds(500), o.SpeculativeTtl);
        Assert.Equal(1_000_000, o.IndexSize);
        Assert.Equal(4, o.PodCacheSize);
        Assert.Equal(8, o.Concurrency);
        Assert.Equal(5556, o.SocketPort);
        Assert.Equal(1_000_000, p.Index.Capacity);
    }

    [Fact]
    public void KvEventsPortOffset_PutsEachPublisherAtItsEndpointsPortPlusTheOffset()
    {
        var p = Load("{kvEventsPortOffset: 1000}");
        var endpoint = new FastEpp.Endpoints.Endpoint("e", "pod", "127.0.0.1", 8001, 8001, new Dictionary<string, string>());
        Assert.Equal(9001, p.Subscriptions.PortOf(endpoint));
        Assert.Equal(5557, Load("null").Subscriptions.PortOf(endpoint));
        Assert.Contains("exclusive", Assert.Throws<ConfigException>(() => ConfigLoader.Load(Config("{kvEventsPortOffset: 1, kvEventsConfig: {podDiscoveryConfig: {socketPort: 5556}}}"))).Message);
    }

    [Fact]
    public void ShippedExample_PerfConfigsPreciseYaml_Loads()
    {
        string text = File.ReadAllText(Path.Combine(FastEpp.Tests.Operations.DeployTests.RepoRoot, "perf", "configs", "precise.yaml"));
        var loaded = ConfigLoader.Load(text);
        var p = loaded.Plugins.OfType<PrecisePrefixCacheProducer>().Single();
        Assert.True(p.Options.SpeculativeIndexing);
        Assert.Equal(10_000_000, p.Options.IndexSize);
        Assert.Equal(1000, p.Options.PortOffset); // the perf mode's fleet: publisher at HTTP port + 1000
        Assert.Contains(loaded.Plugins, x => x is FastEpp.Scheduling.Scorers.PrefixCacheScorer { ProducerName: "precise-prefix-cache-producer" });
    }

    [Fact]
    public void Defaults_AreLlmds()
    {
        PreciseOptions o = Load("null").Options;
        Assert.Equal(16, o.BlockSizeTokens);
        Assert.Equal("", o.HashSeed);
        Assert.False(o.SpeculativeIndexing);
        Assert.Equal(TimeSpan.FromSeconds(2), o.SpeculativeTtl);
        Assert.Equal(100_000_000, o.IndexSize);
        Assert.Equal(10, o.PodCacheSize);
        Assert.Equal(4, o.Concurrency);
        Assert.Equal("kv@", o.TopicFilter);
        Assert.Equal(5557, o.SocketPort);
        Assert.Equal(16, Load("{tokenProcessorConfig: {blockSize: 16}}").Options.BlockSizeTokens); // the old name
    }

    [Theory]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"ipc:///tmp/kv\", discoverPods: false}}", "zmqEndpoint")]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://*\", discoverPods: false}}", "zmqEndpoint")]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://*:0\", discoverPods: false}}", "zmqEndpoint")]
    [InlineData("{kvEventsConfig: {discoverPods: false}}", "discoverPods")]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://*:5557\", discoverPods: false, podDiscoveryConfig: {socketPort: 5556}}}", "socketPort")]
    [InlineData("{kvEventsPortOffset: 100, kvEventsConfig: {zmqEndpoint: \"tcp://*:5557\", discoverPods: false}}", "kvEventsPortOffset")]
    [InlineData("{kvEventsConfig: {engineType: sglang}}", "engineType")]
    [InlineData("{kvEventsConfig: {concurrency: 0}}", "concurrency")]
    [InlineData("{kvEventsPortOffset: 10, kvEventsConfig: {podDiscoveryConfig: {replaySocketPort: 5558}}}", "replaySocketPort")]
    [InlineData("{kvEventsConfig: {podDiscoveryConfig: {replaySocketPort: 70000}}}", "replaySocketPort")]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://*:5557\", discoverPods: false, podDiscoveryConfig: {replaySocketPort: 5558}}}", "replaySocketPort")]
    [InlineData("{kvEventsConfig: {podDiscoveryConfig: {podLabelSelector: \"app=vllm\"}}}", "podLabelSelector")]
    [InlineData("{kvEventsConfig: {podDiscoveryConfig: {socketPort: 70000}}}", "socketPort")]
    [InlineData("{indexerConfig: {tokenizersPoolConfig: {modelName: x}}}", "tokenizersPoolConfig")]
    [InlineData("{indexerConfig: {kvCacheBackendConfigs: [{name: gpu, weight: 1.0}]}}", "kvCacheBackendConfigs")]
    [InlineData("{indexerConfig: {kvBlockIndexConfig: {redisConfig: {address: \"redis:6379\"}}}}", "redisConfig")]
    [InlineData("{indexerConfig: {kvBlockIndexConfig: {costAwareMemoryConfig: {size: 2GiB}}}}", "costAwareMemoryConfig")]
    [InlineData("{indexerConfig: {kvBlockIndexConfig: {enableMetrics: true}}}", "enableMetrics")]
    [InlineData("{indexerConfig: {kvBlockIndexConfig: {inMemoryConfig: {size: 0}}}}", "size")]
    [InlineData("{tokenProcessorConfig: {hashAlgorithm: sha256}}", "hashAlgorithm")]
    [InlineData("{tokenProcessorConfig: {blockSizeTokens: -1}}", "blockSizeTokens")]
    [InlineData("{speculativeTTL: 0s}", "speculativeTTL")]
    [InlineData("{tokenizeTimeout: 2m}", "tokenizeTimeout")]
    [InlineData("{kvEventsConfig: 5}", "kvEventsConfig")]
    public void WhatCannotBeHonoured_IsRefusedAtStartUp(string parameters, string named)
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Config(parameters)));
        Assert.Contains(named, ex.Message);
    }

    [Theory]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://*:5557\", discoverPods: false}}", "*", 5557, false)]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://0.0.0.0:6000\"}}", "0.0.0.0", 6000, true)] // llm-d: both modes at once
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://[::]:5557\", discoverPods: false}}", "::", 5557, false)]
    [InlineData("{kvEventsConfig: {zmqEndpoint: \"tcp://kv-indexer:5557\", discoverPods: false}}", "kv-indexer", 5557, false)]
    public void CentralZmqEndpoint_Loads_AloneOrWithPerPodSubscriptions(string parameters, string host, int port, bool perPod)
    {
        PreciseOptions o = Load(parameters).Options;
        Assert.Equal(host, o.CentralHost);
        Assert.Equal(port, o.CentralPort);
        Assert.Equal(perPod, o.DiscoverPods);
        Assert.Null(Load("{}").Options.CentralHost);
    }

    [Fact]
    public void ScorerNamingAnotherProducer_OrTwoPrefixProducers_AreRefused()
    {
        var wrong = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Config("null", "{prefixMatchInfoProducerName: approx}")));
        Assert.Contains("prefixMatchInfoProducerName 'approx'", wrong.Message);
        var two = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Config("null", "null", "- type: approx-prefix-cache-producer")));
        Assert.Contains("both configured", two.Message);
    }

    [Fact]
    public void TokenProducer_VllmBackend_IsWiredToThePreciseProducer()
    {
        var loaded = ConfigLoader.Load(Config("null", extraPlugins: "- {type: token-producer, parameters: {modelName: Qwen/Qwen3-32B, vllm: {url: \"http://render:8000/\", timeout: 2s}}}"));
        var tokens = loaded.Plugins.OfType<TokenProducer>().Single();
        Assert.Same(tokens, loaded.Plugins.OfType<PrecisePrefixCacheProducer>().Single().TokenSource);
        Assert.Equal("http://render:8000", tokens.Url);
        Assert.Equal("Qwen/Qwen3-32B", tokens.ModelName);
        Assert.Equal(TimeSpan.FromSeconds(2), tokens.Tokenizer.Timeout);
    }

    [Theory]
    [InlineData("{modelName: m}", "only the vllm backend")]
    [InlineData("{modelName: m, udsTokenizerConfig: {socketFile: /tmp/t.sock}}", "udsTokenizerConfig")]
    [InlineData("{vllm: {url: \"http://x:8000\"}}", "modelName is required")]
    [InlineData("{modelName: m, vllm: {url: \"https://x:8000\"}}", "not an http:// URL")]
    [InlineData("{modelName: m, vllm: {mmTimeout: 30s}}", "mmTimeout")]
    public void TokenProducer_WhatCannotBeHonoured_IsRefused(string parameters, string named)
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Load(Config("null", extraPlugins: $"- {{type: token-producer, parameters: {parameters}}}")));
        Assert.Contains(named, ex.Message);
    }

    [Fact]
    public void TokenProducer_WithoutThePreciseProducer_IsRefused()
    {
        var ex = Assert.Throws<ConfigException>(() => ConfigLoader.Load("""
            plugins:
            - {type: tokenizer, parameters: {modelName: m, vllm: {url: "http://x:8000"}}}
            - type: prefix-cache-scorer
            schedulingProfiles:
            - name: default
              plugins: [{pluginRef: prefix-cache-scorer}]
            """));
        Assert.Contains("needs a precise-prefix-cache-producer", ex.Message);
    }

    [Fact]
    public void LlmdDataLayerBinding_ToTheEndpointNotificationSource_IsAccepted()
    {
        var loaded = ConfigLoader.Load("""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: endpoint-notification-source
            - type: metrics-data-source
            - type: core-metrics-extractor
            - type: precise-prefix-cache-producer
            - type: prefix-cache-scorer
              parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
            dataLayer:
              sources:
              - {pluginRef: metrics-data-source, extractors: [{pluginRef: core-metrics-extractor}]}
              - {pluginRef: endpoint-notification-source, extractors: [{pluginRef: precise-prefix-cache-producer}]}
            schedulingProfiles:
            - name: default
              plugins: [{pluginRef: prefix-cache-scorer}]
            """);
        Assert.Single(loaded.Plugins.OfType<PrecisePrefixCacheProducer>());
    }
}
