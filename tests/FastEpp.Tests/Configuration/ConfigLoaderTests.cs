using FastEpp.Configuration;
using FastEpp.Scheduling;
using FastEpp.Scheduling.Pickers;
using FastEpp.Scheduling.Profiles;

namespace FastEpp.Tests.Configuration;

public class ConfigLoaderTests
{
    private static string Error(string text)
    {
        var ex = Assert.Throws<ConfigException>(() => SchedulerFactory.Create(text));
        return ex.Message;
    }

    [Fact]
    public void DefaultConfig_EffectiveShape()
    {
        var scheduler = SchedulerFactory.Create("");
        var loaded = scheduler.Config!;
        var profile = Assert.Single(scheduler.Profiles);
        Assert.Equal("default", profile.Name);
        Assert.Equal(
            [("queue-scorer", 2.0), ("kv-cache-utilization-scorer", 2.0), ("prefix-cache-scorer", 3.0)],
            profile.Scorers.Select(s => (s.Scorer.TypeName, s.Weight)));
        Assert.IsType<MaxScorePicker>(profile.Picker);
        Assert.IsType<SingleProfileHandler>(scheduler.ProfileHandler);
        foreach (string t in (string[])["fcfs-ordering-policy", "global-strict-fairness-policy", "static-usage-limit-policy",
                     "openai-parser", "utilization-detector", "approx-prefix-cache-producer", "metrics-data-source", "core-metrics-extractor"])
            Assert.True(loaded.HasPluginOfType(t), t);
        Assert.Equal("utilization-detector", loaded.SaturationDetector.Name);
        Assert.Equal("openai-parser", loaded.Parser!.Name);
        var source = Assert.Single(loaded.DataSources);
        Assert.Equal("metrics-data-source", source.Source.Name);
        Assert.Equal("core-metrics-extractor", Assert.Single(source.Extractors).Name);
    }

    [Fact]
    public void ExampleA_HelmDefault_UsesParameterisedInstances()
    {
        var scheduler = SchedulerFactory.Create("""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: queue-scorer
            - type: kv-cache-utilization-scorer
            - type: prefix-cache-scorer
            - type: metrics-data-source
              parameters:
                scheme: "http"
                path: "/metrics"
                insecureSkipVerify: true
            - type: core-metrics-extractor
              parameters:
                defaultEngine: sglang
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: queue-scorer
                weight: 2
              - pluginRef: kv-cache-utilization-scorer
                weight: 2
              - pluginRef: prefix-cache-scorer
                weight: 3
            """);
        var loaded = scheduler.Config!;
        Assert.Equal("sglang", loaded.EngineConfigs.DefaultEngine);
        Assert.True(loaded.MetricsSource!.SchemeSet);
        Assert.Equal(3, scheduler.Profiles[0].Scorers.Length);
    }

    [Fact]
    public void ExampleB_LatencyPredictor_FailsAtStartupWithExplanation()
    {
        string message = Error("""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: predicted-latency-producer
            - name: strict-affinity-filter
              type: prefix-cache-affinity-filter
              parameters: {affinityThreshold: 0.99}
            - name: loose-affinity-filter
              type: prefix-cache-affinity-filter
              parameters: {affinityThreshold: 0.80}
            - type: latency-scorer
            - type: weighted-random-picker
            - type: slo-headroom-tier-filter
            - type: latency-slo-admitter
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: predicted-latency-producer
              - pluginRef: strict-affinity-filter
              - pluginRef: slo-headroom-tier-filter
              - pluginRef: loose-affinity-filter
              - pluginRef: latency-scorer
              - pluginRef: weighted-random-picker
            """);
        Assert.StartsWith("plugin 'predicted-latency-producer' (type: predicted-latency-producer) cannot be used with FastEpp", message);
        Assert.Contains("latency-predictor", message);
    }

    [Fact]
    public void ExampleB_WithoutPredictorPlugins_LoadsFilterOrderAndDefaultWeight()
    {
        var scheduler = SchedulerFactory.Create("""
            plugins:
            - name: strict-affinity-filter
              type: prefix-cache-affinity-filter
              parameters: {affinityThreshold: 0.99}
            - name: loose-affinity-filter
              type: prefix-cache-affinity-filter
            - type: latency-scorer
            - type: weighted-random-picker
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: strict-affinity-filter
              - pluginRef: loose-affinity-filter
              - pluginRef: latency-scorer
              - pluginRef: weighted-random-picker
            """);
        var p = scheduler.Profiles[0];
        Assert.Equal(["strict-affinity-filter", "loose-affinity-filter"], p.Filters.Select(f => f.Name));
        Assert.Equal(1.0, Assert.Single(p.Scorers).Weight);
        Assert.IsType<WeightedRandomPicker>(p.Picker);
        Assert.True(scheduler.Config!.HasPluginOfType("approx-prefix-cache-producer"));
    }

    [Fact]
    public void ExampleD_DocsExample_PrefixParametersIgnoredByScorer()
    {
        var scheduler = SchedulerFactory.Create("""
            apiVersion: inference.networking.x-k8s.io/v1alpha1
            kind: EndpointPickerConfig
            plugins:
            - type: prefix-cache-scorer
              parameters:
                blockSizeTokens: 5
                maxPrefixBlocksToMatch: 256
                lruCapacityPerServer: 31250
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: prefix-cache-scorer
                weight: 50
            """);
        Assert.Equal(50.0, scheduler.Profiles[0].Scorers[0].Weight);
        var producer = (FastEpp.Scheduling.Producers.ApproxPrefixCacheProducer)scheduler.Config!.PluginsByName["approx-prefix-cache-producer"];
        Assert.Equal(16, producer.BlockSizeTokens);
    }

    [Fact]
    public void ExampleE_ExplicitDataLayerAndJson()
    {
        var scheduler = SchedulerFactory.Create("""
            {"apiVersion":"inference.networking.x-k8s.io/v1alpha1","kind":"EndpointPickerConfig",
             "plugins":[{"type":"queue-scorer"},{"type":"kv-cache-utilization-scorer"},{"type":"prefix-cache-scorer"},
                        {"type":"lora-affinity-scorer"},{"type":"openai-parser"},{"type":"metrics-data-source"}],
             "schedulingProfiles":[{"name":"default","plugins":[{"pluginRef":"queue-scorer"},{"pluginRef":"kv-cache-utilization-scorer"},
                                    {"pluginRef":"prefix-cache-scorer"},{"pluginRef":"lora-affinity-scorer"}]}],
             "parser":{"pluginRef":"openai-parser"},
             "dataLayer":{"sources":[{"pluginRef":"metrics-data-source"}]}}
            """);
        Assert.All(scheduler.Profiles[0].Scorers, s => Assert.Equal(1.0, s.Weight));
        Assert.Empty(Assert.Single(scheduler.Config!.DataSources).Extractors);
    }

    [Fact]
    public void AlmostEmptyDocument_ProfileWithNoScorers()
    {
        var scheduler = SchedulerFactory.Create("apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n");
        Assert.Empty(scheduler.Profiles[0].Scorers);
        Assert.IsType<MaxScorePicker>(scheduler.Profiles[0].Picker);
    }

    [Theory]
    [InlineData("plugins:\n- type: queue-scorer\ndata:\n  sources: []\n", "failed to decode configuration JSON/YAML: strict decoding error: unknown field \"data\"")]
    [InlineData("plugins:\n- type: queue-scorer\n  foo: 1\n", "failed to decode configuration JSON/YAML: strict decoding error: unknown field \"plugins[0].foo\"")]
    [InlineData("kind: Other\n", "failed to decode configuration JSON/YAML: no kind \"Other\" is registered for version \"inference.networking.x-k8s.io/v1alpha1\"")]
    [InlineData("featureGates: [nope]\n", "feature gate 'nope' is unknown or unregistered")]
    [InlineData("plugins:\n- name: x\n", "plugin 'x' is missing a type")]
    [InlineData("plugins:\n- type: queue-scorer\n- type: queue-scorer\n", "duplicate plugin name 'queue-scorer'")]
    [InlineData("plugins:\n- type: low-queue-filter\n", "plugin type 'low-queue-filter' is not registered")]
    [InlineData("plugins:\n- type: max-score-picker\n  parameters: {maxNumOfEndpoints: \"x\"}\n",
        "failed to create plugin 'max-score-picker' (type: max-score-picker): json: cannot unmarshal string into Go struct field .maxNumOfEndpoints of type int")]
    [InlineData("plugins:\n- type: approx-prefix-cache-producer\n  parameters: {autoTune: false, blockSizeTokens: 0}\n",
        "failed to create plugin 'approx-prefix-cache-producer' (type: approx-prefix-cache-producer): BlockSizeTokens must be > 0 when AutoTune is disabled")]
    [InlineData("schedulingProfiles:\n- name: a\n  plugins:\n  - pluginRef: missing\n", "schedulingProfiles[a] references undefined plugin 'missing'")]
    [InlineData("schedulingProfiles:\n- plugins: []\n", "schedulingProfiles[0] is missing a name")]
    [InlineData("schedulingProfiles:\n- name: a\n- name: a\n", "schedulingProfiles[1] has duplicate name 'a'")]
    [InlineData("schedulingProfiles:\n- name: a\n- name: b\n", "no profile handler configured")]
    [InlineData("plugins:\n- type: single-profile-handler\nschedulingProfiles:\n- name: a\n- name: b\n", "SingleProfileHandler cannot support multiple scheduling profiles")]
    [InlineData("plugins:\n- type: random-picker\n- type: max-score-picker\nschedulingProfiles:\n- name: a\n  plugins:\n  - pluginRef: random-picker\n  - pluginRef: max-score-picker\n",
        "already have a registered picker plugin")]
    [InlineData("saturationDetector:\n  pluginRef: nope\n", "saturation detector plugin 'nope' not found")]
    [InlineData("parser:\n  pluginRef: nope\n", "the configured parser is not loaded")]
    [InlineData("dataLayer: {}\n", "data layer enabled but no data sources configured")]
    [InlineData("plugins:\n- type: queue-scorer\ndataLayer:\n  sources:\n  - pluginRef: queue-scorer\n", "the plugin queue-scorer is not a fwkdl.DataSource")]
    [InlineData("plugins:\n- type: queue-scorer\nparser:\n  pluginRef: queue-scorer\n", "the configured parser 'queue-scorer' is not a parser plugin")]
    public void InvalidConfigs_ReferenceErrors(string yaml, string expected)
    {
        Assert.Equal(expected, Error(yaml));
    }

    [Fact]
    public void DuplicateKeys_AreErrors()
    {
        Assert.StartsWith("failed to decode configuration JSON/YAML", Error("plugins: []\nplugins: []\n"));
    }

    [Fact]
    public void ReadFlags_BothSet_AndMissingFile()
    {
        Assert.Equal("both the \"configText\" and \"configFile\" flags can not be set at the same time",
            Assert.Throws<ConfigException>(() => ConfigLoader.ReadFlags("a", "b")).Message);
        string missing = Path.Combine(Path.GetTempPath(), "fastepp-missing-" + Guid.NewGuid() + ".yaml");
        Assert.StartsWith($"failed to load config from a file '{missing}' - ",
            Assert.Throws<ConfigException>(() => ConfigLoader.ReadFlags("", missing)).Message);
        Assert.Equal("", ConfigLoader.ReadFlags(null, null));
    }

    [Fact]
    public void ConfigFile_IsRead()
    {
        string path = Path.Combine(Path.GetTempPath(), "fastepp-cfg-" + Guid.NewGuid() + ".yaml");
        File.WriteAllText(path, "plugins:\n- type: random-picker\n  parameters:\n    maxNumOfEndpoints: 2\n");
        try
        {
            var scheduler = SchedulerFactory.CreateFromFlags("", path);
            Assert.Equal(2, scheduler.Profiles[0].Picker.MaxEndpoints);
            Assert.IsType<RandomPicker>(scheduler.Profiles[0].Picker);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("", typeof(FastEpp.Parsers.OpenAiParser), "openai-parser")]
    [InlineData("plugins:\n- type: passthrough-parser\nparser:\n  pluginRef: passthrough-parser\n", typeof(FastEpp.Parsers.PassthroughParser), "passthrough-parser")]
    [InlineData("plugins:\n- type: vllmgrpc-parser\n  name: grpc\nparser:\n  pluginRef: grpc\n", typeof(FastEpp.Parsers.VllmGrpcParser), "grpc")]
    public void Parser_IsTheConfiguredPlugin(string yaml, Type type, string name)
    {
        var parser = ConfigLoader.Load(yaml).Parser!;
        Assert.IsType(type, parser);
        Assert.Equal(name, parser.Name);
    }

    [Fact]
    public void EndpointNotificationSource_TheReferencesInFlightCleanupWiringLoads()
    {
        var loaded = ConfigLoader.Load("""
            plugins:
            - type: metrics-data-source
            - type: core-metrics-extractor
            - type: endpoint-notification-source
            - type: inflight-load-producer
            - type: token-load-scorer
            schedulingProfiles:
            - name: default
              plugins:
              - pluginRef: token-load-scorer
            dataLayer:
              sources:
              - pluginRef: metrics-data-source
                extractors: [{pluginRef: core-metrics-extractor}]
              - pluginRef: endpoint-notification-source
                extractors: [{pluginRef: inflight-load-producer}]
            """);
        Assert.Equal(2, loaded.DataSources.Count);
        Assert.Empty(loaded.DataSources[1].Extractors);
    }

    [Fact]
    public void FlowControl_Quantities_AndValidation()
    {
        var loaded = ConfigLoader.Load("""
            featureGates: [flowControl]
            flowControl:
              maxBytes: 1Gi
              maxRequests: 1k
              defaultRequestTTL: 1m30s
              priorityBands:
              - priority: 1
                maxBytes: 500M
            """);
        Assert.Equal(1L << 30, loaded.FlowControl!.MaxBytes);
        Assert.Equal(1000, loaded.FlowControl.MaxRequests);
        Assert.Equal(TimeSpan.FromSeconds(90), loaded.FlowControl.DefaultRequestTtl);
        Assert.Equal(500_000_000, loaded.FlowControl.PriorityBands[0].MaxBytes);
        Assert.True(loaded.FlowControlEnabled);

        Assert.Equal("flowControl: duplicate priority band 1", Assert.Throws<ConfigException>(() => ConfigLoader.Load("""
            featureGates: [flowControl]
            flowControl:
              priorityBands: [{priority: 1}, {priority: 1}]
            """)).Message);
    }

    [Fact]
    public void Registry_HasEveryReferenceType()
    {
        // The reference registry's 35 type names (spec scheduling.md §2.11), written out so the table cannot drift.
        string[] reference =
        [
            "prefix-cache-scorer", "max-score-picker", "random-picker", "weighted-random-picker", "single-profile-handler",
            "kv-cache-utilization-scorer", "queue-scorer", "running-requests-size-scorer", "lora-affinity-scorer", "token-load-scorer",
            "global-strict-fairness-policy", "round-robin-fairness-policy", "fcfs-ordering-policy", "edf-ordering-policy",
            "slo-deadline-ordering-policy", "static-usage-limit-policy", "approx-prefix-cache-producer", "inflight-load-producer",
            "predicted-latency-producer", "latency-slo-admitter", "prefix-cache-affinity-filter", "slo-headroom-tier-filter",
            "latency-scorer", "header-based-testing-filter", "destination-endpoint-served-verifier", "metrics-data-source",
            "core-metrics-extractor", "k8s-notification-source", "endpoint-notification-source", "request-attribute-reporter",
            "openai-parser", "vllmgrpc-parser", "passthrough-parser", "concurrency-detector", "utilization-detector",
        ];
        // FastEpp's own types follow the reference's, each named fastepp-*.
        string[] own = ["fastepp-wait-scorer", "fastepp-prefix-home-scorer"];
        // Then llm-d's types FastEpp implements (spec routing.md §3).
        string[] llmd = ["precise-prefix-cache-producer", "token-producer", "tokenizer"];
        foreach (string t in reference)
            Assert.True(PluginRegistry.IsRegistered(t), t);
        Assert.Equal(reference.Length + own.Length + llmd.Length, PluginRegistry.RegisteredTypes.Count());
        Assert.Equal([.. reference, .. own, .. llmd], PluginRegistry.All.Select(t => t.Name));
    }

    [Theory]
    [InlineData("1Gi", 1073741824L)]
    [InlineData("500M", 500000000L)]
    [InlineData("100", 100L)]
    [InlineData("1k", 1000L)]
    [InlineData("1.5", 2L)]
    [InlineData("1e3", 1000L)]
    public void Quantity_Parses(string text, long expected)
    {
        Assert.True(Quantity.TryParse(text, out long v));
        Assert.Equal(expected, v);
    }
}
