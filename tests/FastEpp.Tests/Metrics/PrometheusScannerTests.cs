using System.Text;
using FastEpp.Endpoints;
using FastEpp.Metrics;

namespace FastEpp.Tests.Metrics;

public class PrometheusScannerTests
{
    private static readonly DateTimeOffset s_now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset s_earlier = s_now.AddSeconds(-10);

    private static ScrapeReport Scan(string payload, EngineConfig config, EndpointMetrics previous, out EndpointMetrics next) =>
        PrometheusScanner.Scan(Encoding.UTF8.GetBytes(payload), ScrapePlan.Create(config), previous, s_now, out next);

    private static ScrapeReport Scan(byte[] payload, EngineConfig config, EndpointMetrics previous, out EndpointMetrics next) =>
        PrometheusScanner.Scan(payload, ScrapePlan.Create(config), previous, s_now, out next);

    private static EngineConfig Gauge(string spec) => new() { Name = "t", QueuedRequestsSpec = spec };

    private static EngineConfig Lora(string spec = "vllm:lora_requests_info") => new() { Name = "t", LoraSpec = spec };

    // ---- realistic fixtures -------------------------------------------------------------

    [Fact]
    public void Scan_VllmFixture_AllFieldsExtracted()
    {
        var report = Scan(MetricsFixtures.Load("vllm.txt"), EngineConfig.Vllm(), default, out var m);

        Assert.True(report.Complete, report.Describe(ScrapePlan.Create(EngineConfig.Vllm())));
        Assert.Equal(0, report.MalformedLines);
        Assert.Equal(3, m.WaitingQueueSize);
        Assert.Equal(7, m.RunningRequestsSize);
        Assert.Equal(0.4375, m.KvCacheUsagePercent);
        // Three LoRA series: the one with the largest value (creation time) wins, not the last.
        Assert.Equal(["sql-lora", "tweet-summary"], m.ActiveModels!);
        Assert.Equal(["chat-lora"], m.WaitingModels!);
        Assert.Equal(4, m.MaxActiveModels);
        Assert.Equal(16, m.CacheBlockSize);
        Assert.Equal(27000, m.CacheNumBlocks);
        Assert.Equal(s_now, m.UpdatedAt);
    }

    [Fact]
    public void Scan_VllmFixtureWithCrLf_SameResult()
    {
        string text = MetricsFixtures.LoadText("vllm.txt").Replace("\n", "\r\n");
        var report = Scan(text, EngineConfig.Vllm(), default, out var m);
        Assert.True(report.Complete);
        Assert.Equal((3, 7, 0.4375, 16, 27000), (m.WaitingQueueSize, m.RunningRequestsSize, m.KvCacheUsagePercent, m.CacheBlockSize, m.CacheNumBlocks));
        Assert.Equal(["sql-lora", "tweet-summary"], m.ActiveModels!);
    }

    [Fact]
    public void Scan_SGLangFixture_PageSizeAndNumPages()
    {
        var report = Scan(MetricsFixtures.Load("sglang.txt"), EngineConfig.SGLang(), default, out var m);
        Assert.True(report.Complete);
        Assert.Equal((5, 12, 0.62, 1, 183320), (m.WaitingQueueSize, m.RunningRequestsSize, m.KvCacheUsagePercent, m.CacheBlockSize, m.CacheNumBlocks));
        Assert.Null(m.ActiveModels); // no LoRA spec in this dialect
    }

    [Fact]
    public void Scan_TrtllmServeFixture_DirectGauges()
    {
        var report = Scan(MetricsFixtures.Load("trtllm-serve.txt"), EngineConfig.TrtllmServe(), default, out var m);
        Assert.True(report.Complete);
        Assert.Equal((2, 31, 0.8125, 32, 4096), (m.WaitingQueueSize, m.RunningRequestsSize, m.KvCacheUsagePercent, m.CacheBlockSize, m.CacheNumBlocks));
    }

    [Fact]
    public void Scan_TritonFixture_LabelSelectedSeries()
    {
        var report = Scan(MetricsFixtures.Load("triton.txt"), EngineConfig.TritonTensorRtLlm(), default, out var m);
        Assert.True(report.Complete);
        Assert.Equal((6, 14, 0.296875, 64, 2048), (m.WaitingQueueSize, m.RunningRequestsSize, m.KvCacheUsagePercent, m.CacheBlockSize, m.CacheNumBlocks));
    }

    [Fact]
    public void Scan_OldVllmWithoutKvUsagePerc_PartialUpdateAndReason()
    {
        string text = MetricsFixtures.LoadText("vllm.txt").Replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc");
        var previous = new EndpointMetrics { KvCacheUsagePercent = 0.9, UpdatedAt = s_earlier };
        var report = Scan(text, EngineConfig.Vllm(), previous, out var m);

        Assert.Equal(MetricFields.KvUsage, report.Missing);
        Assert.Equal(MissingReason.FamilyNotFound, report.ReasonFor(MetricTarget.KvUsage));
        Assert.Contains("metric family \"vllm:kv_cache_usage_perc\" not found", report.Describe(ScrapePlan.Create(EngineConfig.Vllm())));
        Assert.Equal(0.9, m.KvCacheUsagePercent);
        Assert.Equal(3, m.WaitingQueueSize);
        Assert.Equal(s_now, m.UpdatedAt); // a partial scrape is still fresh
    }

    [Fact]
    public void Scan_WarmRepeat_AllocatesNothingAndReusesAdapterArrays()
    {
        byte[] payload = MetricsFixtures.Load("vllm.txt");
        var plan = ScrapePlan.Create(EngineConfig.Vllm());
        PrometheusScanner.Scan(payload, plan, default, s_now, out var first);
        PrometheusScanner.Scan(payload, plan, first, s_now, out var warm);

        long before = GC.GetAllocatedBytesForCurrentThread();
        PrometheusScanner.Scan(payload, plan, warm, s_now, out var second);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Same(first.ActiveModels, second.ActiveModels);
        Assert.Same(first.WaitingModels, second.WaitingModels);
    }

    [Fact]
    public void Scan_AdapterListChanged_NewArray()
    {
        var plan = Lora();
        Scan("vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"a,b\",waiting_lora_adapters=\"\"} 10\n", plan, default, out var first);
        Scan("vllm:lora_requests_info{max_lora=\"2\",running_lora_adapters=\"a,c\",waiting_lora_adapters=\"\"} 11\n", plan, first, out var second);
        Assert.NotSame(first.ActiveModels, second.ActiveModels);
        Assert.Equal(["a", "c"], second.ActiveModels!);
        Assert.Same(first.WaitingModels, second.WaitingModels); // both empty: the shared empty array
        Assert.Empty(second.WaitingModels!);
    }

    // ---- selection rules ------------------------------------------------------------------

    [Fact]
    public void Scan_Timestamps_GreatestTimestampWins()
    {
        Scan("# TYPE foo gauge\nfoo{a=\"1\"} 5 1000\nfoo{a=\"2\"} 9 3000\nfoo{a=\"3\"} 7 2000\n", Gauge("foo"), default, out var m);
        Assert.Equal(9, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_NoTimestamps_FirstMatchingSeriesWins()
    {
        Scan("foo{a=\"1\"} 5\nfoo{a=\"2\"} 9\n", Gauge("foo"), default, out var m);
        Assert.Equal(5, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_EqualTimestamps_FirstWins()
    {
        Scan("foo{a=\"1\"} 5 100\nfoo{a=\"2\"} 9 100\n", Gauge("foo"), default, out var m);
        Assert.Equal(5, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_SpecLabels_AllMustMatch()
    {
        string text = "foo{a=\"1\",b=\"x\"} 5\nfoo{a=\"2\",b=\"y\",c=\"z\"} 9\nfoo{a=\"2\"} 11\n";
        Scan(text, Gauge("foo{a=2,b=y}"), default, out var m);
        Assert.Equal(9, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_LoraSeries_LargestValueWinsAndNamesTrimmedAndDeduplicated()
    {
        string text = """
            # TYPE vllm:lora_requests_info gauge
            vllm:lora_requests_info{max_lora="8",running_lora_adapters="old",waiting_lora_adapters=""} 100
            vllm:lora_requests_info{max_lora="8",running_lora_adapters=" a , b,,a ,c ",waiting_lora_adapters=" w "} 300
            vllm:lora_requests_info{max_lora="8",running_lora_adapters="older",waiting_lora_adapters=""} 200

            """;
        Scan(text, Lora(), default, out var m);
        Assert.Equal(["a", "b", "c"], m.ActiveModels!);
        Assert.Equal(["w"], m.WaitingModels!);
        Assert.Equal(8, m.MaxActiveModels);
    }

    [Fact]
    public void Scan_LoraEscapedLabel_Unescaped()
    {
        Scan("vllm:lora_requests_info{running_lora_adapters=\"x\\\"y, z\\\\w\"} 1\n", Lora(), default, out var m);
        Assert.Equal(["x\"y", "z\\w"], m.ActiveModels!);
        Assert.Empty(m.WaitingModels!); // a missing label replaces the list with an empty one
    }

    [Fact]
    public void Scan_InvalidMaxLora_ErrorAndFieldUntouched()
    {
        var previous = new EndpointMetrics { MaxActiveModels = 3 };
        var report = Scan("vllm:lora_requests_info{max_lora=\"four\",running_lora_adapters=\"a\"} 1\n", Lora(), previous, out var m);
        Assert.Equal(3, m.MaxActiveModels);
        Assert.Equal(["a"], m.ActiveModels!);
        Assert.True(report.Updated);
        Assert.Equal(MetricFields.Lora, report.Invalid);
        Assert.Equal(InvalidDetail.MaxLora, report.InvalidDetails);
    }

    [Fact]
    public void Scan_CacheInfoMissingBlockSizeAndInvalidNumBlocks_ReferenceRules()
    {
        var previous = new EndpointMetrics { CacheBlockSize = 16, CacheNumBlocks = 500 };
        var cfg = new EngineConfig { Name = "t", CacheInfoSpec = "vllm:cache_config_info" };
        var report = Scan("vllm:cache_config_info{num_gpu_blocks=\"None\"} 1\n", cfg, previous, out var m);
        Assert.Equal(0, m.CacheBlockSize);     // reset first, label missing → 0
        Assert.Equal(500, m.CacheNumBlocks);   // invalid → previous kept
        Assert.Equal(InvalidDetail.NumBlocksLabel, report.InvalidDetails);
    }

    [Fact]
    public void Scan_LongerNameWithSamePrefix_NotConfused()
    {
        Scan("vllm:num_requests_waiting_total 99\nvllm:num_requests_waiting 3\n", Gauge("vllm:num_requests_waiting"), default, out var m);
        Assert.Equal(3, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_NameInsideHelpTextOrLabelValue_Ignored()
    {
        string text = "# HELP other mentions foo 55\nother{a=\"foo 77\"} 1\nbar{x=\"\nfoo\"} 2\n";
        var report = Scan(text, Gauge("foo"), default, out var m);
        // The third line is split by a raw newline; its second half looks like "foo\"} 2": malformed, skipped.
        Assert.False(report.Updated);
        Assert.Equal(0, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_HistogramChildName_BelongsToHistogramFamily()
    {
        var report = Scan("# TYPE foo histogram\nfoo_bucket{le=\"+Inf\"} 5\nfoo_count 5\nfoo_sum 2.5\n", Gauge("foo_count"), default, out _);
        Assert.Equal(MissingReason.FamilyNotFound, report.ReasonFor(MetricTarget.Queued));

        Scan("# TYPE foo_count gauge\nfoo_count 5\n", Gauge("foo_count"), default, out var m);
        Assert.Equal(5, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_SummaryTypedFamily_ValueIsZero()
    {
        var report = Scan("# TYPE foo summary\nfoo{quantile=\"0.5\"} 3\nfoo_sum 9\nfoo_count 3\n", Gauge("foo"), new EndpointMetrics { WaitingQueueSize = 4 }, out var m);
        Assert.True(report.Updated);
        Assert.Equal(0, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_UntypedAndCounter_ValueRead()
    {
        Scan("foo 12\n", Gauge("foo"), default, out var untyped);
        Assert.Equal(12, untyped.WaitingQueueSize);
        Scan("# TYPE foo counter\nfoo 13\n", Gauge("foo"), default, out var counter);
        Assert.Equal(13, counter.WaitingQueueSize);
    }

    [Fact]
    public void Scan_FractionalCount_Truncated()
    {
        Scan("foo 7.9\n", Gauge("foo"), default, out var m);
        Assert.Equal(7, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_LeadingBlanksAndLooseComments_Accepted()
    {
        Scan("#   TYPE   foo gauge\n  \t foo { a = \"1\" , } \t 4 \t\n", Gauge("foo{a=1}"), default, out var m);
        Assert.Equal(4, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_EscapedLabelValue_MatchesUnescapedSpec()
    {
        Scan("foo{path=\"C:\\\\dir\"} 3\nfoo{path=\"other\"} 4\n", Gauge("foo{path=\"C:\\\\dir\"}"), default, out var m);
        Assert.Equal(3, m.WaitingQueueSize);
    }

    // ---- bad input: each case has a defined outcome ----------------------------------------

    [Fact]
    public void Scan_EmptyPayload_NothingUpdatedOldTimestampKept()
    {
        var previous = new EndpointMetrics { WaitingQueueSize = 2, UpdatedAt = s_earlier };
        var report = Scan("", EngineConfig.Vllm(), previous, out var m);
        Assert.False(report.Updated);
        Assert.Equal(ScrapePlan.Create(EngineConfig.Vllm()).Enabled, report.Missing);
        Assert.Equal(previous, m);
    }

    [Fact]
    public void Scan_BinaryGarbage_NoThrowNothingFound()
    {
        var rng = new Random(42);
        var bytes = new byte[64 * 1024];
        rng.NextBytes(bytes);
        var report = Scan(bytes, EngineConfig.Vllm(), default, out var m);
        Assert.False(report.Updated);
        Assert.Equal(default, m);
    }

    [Fact]
    public void Scan_FamilyDeclaredWithoutSamples_NoSamplesReason()
    {
        var report = Scan("# HELP foo help\n# TYPE foo gauge\n", Gauge("foo"), default, out _);
        Assert.Equal(MissingReason.NoSamples, report.ReasonFor(MetricTarget.Queued));
        Assert.Contains("no metrics found for \"foo\"", report.Describe(ScrapePlan.Create(Gauge("foo"))));
    }

    [Fact]
    public void Scan_NoSeriesWithSpecLabels_NoMatchingSeriesReason()
    {
        var report = Scan("foo{a=\"1\"} 5\n", Gauge("foo{a=2}"), default, out _);
        Assert.Equal(MissingReason.NoMatchingSeries, report.ReasonFor(MetricTarget.Queued));
        Assert.Contains("no matching metric found for \"foo{a=\"2\"}\"", report.Describe(ScrapePlan.Create(Gauge("foo{a=2}"))));
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("+Inf")]
    [InlineData("-Inf")]
    public void Scan_NonFiniteCount_InvalidPreviousKept(string value)
    {
        var previous = new EndpointMetrics { WaitingQueueSize = 6, UpdatedAt = s_earlier };
        var report = Scan($"foo {value}\n", Gauge("foo"), previous, out var m);
        Assert.Equal(MetricFields.Queued, report.Invalid);
        Assert.False(report.Updated);
        Assert.Equal(previous, m);
    }

    [Fact]
    public void Scan_NonFiniteKvUsage_InvalidOtherFieldsUpdated()
    {
        var cfg = new EngineConfig { Name = "t", KvUsageSpec = "kv", RunningRequestsSpec = "run" };
        var report = Scan("kv +Inf\nrun 2\n", cfg, new EndpointMetrics { KvCacheUsagePercent = 0.5 }, out var m);
        Assert.Equal(MetricFields.KvUsage, report.Invalid);
        Assert.Equal(0.5, m.KvCacheUsagePercent);
        Assert.Equal(2, m.RunningRequestsSize);
        Assert.Equal(s_now, m.UpdatedAt);
    }

    [Fact]
    public void Scan_NaNLoraValue_NeverSelected()
    {
        var report = Scan("vllm:lora_requests_info{running_lora_adapters=\"a\"} NaN\n", Lora(), default, out var m);
        Assert.Equal(MissingReason.NoMatchingSeries, report.ReasonFor(MetricTarget.Lora));
        Assert.Null(m.ActiveModels);
    }

    [Fact]
    public void Scan_TruncatedMidLabels_MalformedLineSkipped()
    {
        var report = Scan("foo 1\nvllm:num_requests_waiting{engine=\"0\",mod", EngineConfig.Vllm(), default, out _);
        Assert.Equal(1, report.MalformedLines);
        Assert.Equal(MissingReason.FamilyNotFound, report.ReasonFor(MetricTarget.Running));
        Assert.False(report.Updated);
    }

    [Fact]
    public void Scan_LastLineWithoutNewline_Parsed()
    {
        Scan("# TYPE foo gauge\nfoo 4", Gauge("foo"), default, out var m);
        Assert.Equal(4, m.WaitingQueueSize);
    }

    [Theory]
    [InlineData("foo abc\nfoo 2\n")]            // bad value, next series used
    [InlineData("foo 1 12.5\nfoo 2\n")]         // bad timestamp
    [InlineData("foo 1 100 extra\nfoo 2\n")]    // trailing garbage
    [InlineData("foo{a=1} 1\nfoo 2\n")]         // unquoted exposition label value
    [InlineData("foo{a=\"1\" 1\nfoo 2\n")]      // unclosed brace
    [InlineData("foo\nfoo 2\n")]                // no value
    public void Scan_MalformedSampleLine_SkippedAndCounted(string text)
    {
        var report = Scan(text, Gauge("foo"), default, out var m);
        Assert.Equal(1, report.MalformedLines);
        Assert.Equal(2, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_HugeLines_StillFound()
    {
        var sb = new StringBuilder();
        sb.Append("junk{v=\"").Append('x', 2_000_000).Append("\"} 1\n");
        sb.Append("foo{big=\"").Append('y', 1_000_000).Append("\"} 8\n");
        var report = Scan(sb.ToString(), Gauge("foo"), default, out var m);
        Assert.Equal(8, m.WaitingQueueSize);
        Assert.Equal(0, report.MalformedLines);
    }

    [Fact]
    public void Scan_NulBytesAroundTarget_TargetLineStillParsed()
    {
        byte[] payload = [0, 0, 0xFF, (byte)'\n', .. "foo 5\n"u8, 0, 0x80, (byte)'\n'];
        Scan(payload, Gauge("foo"), default, out var m);
        Assert.Equal(5, m.WaitingQueueSize);
    }

    [Fact]
    public void Scan_FixtureTruncatedAtManyOffsets_NeverThrowsAndNeverInventsValues()
    {
        byte[] full = MetricsFixtures.Load("vllm.txt");
        var plan = ScrapePlan.Create(EngineConfig.Vllm());
        for (int length = 0; length < full.Length; length += 97)
        {
            var report = PrometheusScanner.Scan(full.AsSpan(0, length), plan, default, s_now, out var m);
            // Whatever was found is either absent or the true value: a cut line never yields a wrong number.
            Assert.True((report.Found & MetricFields.Queued) == 0 || m.WaitingQueueSize == 3);
            Assert.True((report.Found & MetricFields.Running) == 0 || m.RunningRequestsSize == 7);
            Assert.True((report.Found & MetricFields.CacheInfo) == 0 || m.CacheBlockSize is 16 or 1 or 0);
        }
    }

    [Fact]
    public void Scan_RandomByteMutations_NeverThrow()
    {
        byte[] original = MetricsFixtures.Load("vllm.txt");
        var plan = ScrapePlan.Create(EngineConfig.Vllm());
        var rng = new Random(1234);
        for (int round = 0; round < 300; round++)
        {
            byte[] mutated = (byte[])original.Clone();
            for (int k = 0; k < 50; k++)
                mutated[rng.Next(mutated.Length)] = (byte)"\n\"{}=, #\\0aZ\r\t"[rng.Next(14)];
            var report = PrometheusScanner.Scan(mutated, plan, default, s_now, out var m);
            Assert.True(report.Updated == (m.UpdatedAt == s_now));
        }
    }
}
