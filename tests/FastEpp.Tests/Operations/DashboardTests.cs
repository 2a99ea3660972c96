using System.Text.Json;
using System.Text.RegularExpressions;
using FastEpp.Endpoints;
using FastEpp.Tests.ExtProc;

namespace FastEpp.Tests.Operations;

/// <summary>
/// The dashboard and the autoscaling recipe (issue 12 §4) query only metric names that exist: ours (inference_*,
/// fastepp_*, process_*) must be on the EPP's /metrics page, vLLM's in the vLLM exposition fixture.
/// </summary>
public sealed partial class DashboardTests
{
    [GeneratedRegex(@"\b((?:inference|fastepp|process)_[a-z0-9_]+|vllm:[a-z0-9_:]+)")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    private static string Read(string relative) => File.ReadAllText(Path.Combine(DeployTests.RepoRoot, relative));

    private static IEnumerable<string> DashboardExpressions()
    {
        using var doc = JsonDocument.Parse(Read("deploy/dashboards/fastepp.json"));
        foreach (var panel in doc.RootElement.GetProperty("panels").EnumerateArray())
            if (panel.TryGetProperty("targets", out var targets))
                foreach (var target in targets.EnumerateArray())
                    yield return target.GetProperty("expr").GetString()!;
        foreach (var variable in doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
            if (variable.TryGetProperty("query", out var q) && q.ValueKind == JsonValueKind.Object)
                yield return q.GetProperty("query").GetString()!;
    }

    [GeneratedRegex(@"\b(?:by|without|on|ignoring)\s*\([^)]*\)")]
    private static partial Regex LabelList();

    /// <summary>Family names a query uses (label lists such as <c>by(inference_pool)</c> left out); histogram series
    /// suffixes map back to their family.</summary>
    private static IEnumerable<string> Families(string expression) =>
        MetricName().Matches(LabelList().Replace(expression, "")).Select(m => m.Value)
            .Select(n => Regex.Replace(n, "_(bucket|sum|count)$", ""));

    /// <summary>The families on our /metrics page once every lazy family has a series (the golden page's way: the
    /// recording calls the request path makes, including flow control's and the plugins').</summary>
    private static async Task<Dictionary<string, string>> ExportedFamilies()
    {
        await using var epp = await EppServer.StartAsync("10.255.0.1:8000,10.255.0.2:8001",
            "--refresh-prometheus-metrics-interval", "1h", "--metrics-staleness-threshold", "1h");
        var endpoints = epp.Endpoints.Endpoints;
        var now = DateTimeOffset.UtcNow;
        endpoints[0].State.SetMetrics(new EndpointMetrics { WaitingQueueSize = 3, RunningRequestsSize = 2, KvCacheUsagePercent = 0.5, UpdatedAt = now });
        epp.Host.PoolMetrics.Refresh();
        var m = epp.Host.Metrics;
        m.RequestScheduled("llama", "llama", 1, 1500);
        m.RequestError("llama", "llama", "BadRequest");
        m.RunningChanged("llama", 1);
        m.SchedulerAttempt(0.0003, "llama", endpoints[0]);
        m.PrefixMatch(64, 256);
        m.ModelRewrite("rule-1", "llama", "llama-lora");
        m.ResponseComplete("llama", "llama", 2.5, 300, 10);
        m.UsageSeen("llama", "llama", new FastEpp.Body.Usage { PromptTokens = 100, CompletionTokens = 10, Present = true });
        epp.Host.Runtime.Stats.Request();
        m.PluginDuration("Scorer", "queue-scorer", "queue-scorer").Observe(0.00001);
        m.FlowEnqueued("default-flow", 0, FastEpp.Admission.AdmissionOutcome.Dispatched, 0.0001);
        m.FlowDispatchCycle(0.00001);
        m.FlowQueueChanged("default-flow", 0, "", "llama", "llama", 1, 100);
        m.FlowQueueDuration("default-flow", 0, FastEpp.Admission.AdmissionOutcome.Dispatched, "", "llama", "llama", 0.01);
        m.FlowPoolSaturation("", 0.5);

        return TypeLine().Matches(epp.Host.RenderMetrics()).ToDictionary(t => t.Groups[1].Value, t => t.Groups[2].Value);
    }

    private static HashSet<string> VllmFamilies() =>
        TypeLine().Matches(Read("tests/FastEpp.Tests/Metrics/Fixtures/vllm.txt"))
            .Select(t => t.Groups[1].Value).ToHashSet();

    private static async Task AssertAllExported(IEnumerable<string> expressions)
    {
        var exported = await ExportedFamilies();
        var vllm = VllmFamilies();
        var queried = expressions.SelectMany(Families).ToHashSet();
        Assert.NotEmpty(queried);
        var missing = queried.Where(n => n.StartsWith("vllm:", StringComparison.Ordinal) ? !vllm.Contains(n) : !exported.ContainsKey(n)).Order().ToArray();
        Assert.Empty(missing);
    }

    [Fact]
    public async Task Dashboard_QueriesOnlyExportedMetrics()
    {
        var expressions = DashboardExpressions().ToArray();
        Assert.True(expressions.Length >= 30, $"{expressions.Length} queries");
        await AssertAllExported(expressions);
        // The areas issue 12 §4 asks for, each with at least one query.
        var all = string.Join("\n", expressions);
        foreach (var family in new[] { "inference_objective_request_total", "vllm:time_to_first_token_seconds", "inference_objective_normalized_time_per_output_token_seconds",
                     "inference_pool_average_queue_size", "inference_pool_average_kv_cache_utilization", "inference_pool_per_pod_queue_size",
                     "inference_extension_scheduler_e2e_duration_seconds", "inference_extension_prefix_indexer_hit_ratio",
                     "inference_extension_flow_control_queue_size", "inference_pool_ready_pods", "process_cpu_seconds_total", "process_resident_memory_bytes" })
            Assert.Contains(family, all);
    }

    [Fact]
    public async Task AutoscalingRecipe_QueriesOnlyExportedMetrics()
    {
        string rules = Read("deploy/examples/prometheus-adapter-rules.yaml");
        string hpa = Read("deploy/examples/model-server-hpa.yaml");
        await AssertAllExported([rules, hpa]);
        foreach (var name in Families(hpa).Distinct())
            Assert.Contains("as: " + name, rules); // every external metric the HPA asks for is published by a rule
    }
}
