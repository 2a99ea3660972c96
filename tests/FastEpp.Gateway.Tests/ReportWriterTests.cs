using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using FastEpp.Perf.Load;
using FastEpp.Perf.Report;
using FastEpp.Perf.Workloads;

namespace FastEpp.Gateway.Tests;

/// <summary>The report writer (real files in a temp directory) and the statistics/prompt builders behind it.</summary>
public sealed class ReportWriterTests : IDisposable
{
    private static readonly XNamespace s_svg = "http://www.w3.org/2000/svg";
    private static readonly XNamespace s_xhtml = "http://www.w3.org/1999/xhtml";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fastepp-report-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    private static CompareReport SampleReport()
    {
        var report = new CompareReport { Workload = "many-system-prompts", Source = "test <&> source", Scale = 0.25, DurationScale = 0.1, Replicas = 2, Seed = 1 };
        foreach ((string mode, double ttftBase) in new[] { ("round-robin", 2.0), ("fastepp-default", 0.2) })
        {
            var m = new ModeReport { Mode = mode, PrefixCacheHitRate = 0.5 };
            for (int s = 0; s < 3; s++)
            {
                m.Stages.Add(new StageReport
                {
                    Stage = s + 1, OfferedRate = 5 * (s + 1), Seconds = 10, Sent = 50, Completed = 49, Errors = 1,
                    Ttft = new Percentiles { Mean = ttftBase, P50 = ttftBase, P90 = ttftBase * (s + 1), P99 = ttftBase * 4 },
                    OutputTokensPerSecond = 1000 * (s + 1),
                });
            }
            m.Overall = m.Stages[2];
            m.TtftCdf = [new CdfPoint { Seconds = ttftBase, Fraction = 0.5 }, new CdfPoint { Seconds = ttftBase * 100, Fraction = 0.98 }];
            for (int t = 0; t < 3; t++)
            {
                for (int r = 0; r < 2; r++)
                    m.Timeline.Add(new ReplicaSample { T = t, Replica = r, Waiting = t * r, Running = 1, KvUsage = 0.495 * t, PrefixHitRate = t == 0 ? double.NaN : 0.5 });
            }
            report.Modes.Add(m);
        }
        report.Modes[0].Stages[0].Ttft.P90 = double.NaN; // a stage without data must not break the chart
        return report;
    }

    [Fact]
    public void WriteAll_HtmlIsWellFormed_WithRateCharts_ATtftCdf_AndPerReplicaTimelinesPerMode()
    {
        ReportWriter.WriteAll(SampleReport(), _dir);

        using XmlReader reader = XmlReader.Create(Path.Combine(_dir, "report.html"), new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore });
        XDocument doc = XDocument.Load(reader);
        XElement[] all = doc.Descendants(s_svg + "svg").ToArray();
        Assert.Equal(["ttft-p90", "throughput", "ttft-cdf",
            "timeline-0-queue", "timeline-0-kv", "timeline-0-hit", "timeline-1-queue", "timeline-1-kv", "timeline-1-hit"],
            all.Select(c => (string?)c.Attribute("id")));
        XElement[] charts = all[..3];
        // Timelines: one line per replica; the hit-rate line skips the NaN sample (nothing queried in that second).
        foreach (XElement timeline in all[3..])
        {
            XElement[] lines = timeline.Elements(s_svg + "g").Where(g => (string?)g.Attribute("class") == "series").ToArray();
            Assert.Equal(["replica 0", "replica 1"], lines.Select(g => (string?)g.Attribute("data-name")));
            int points = ((string)lines[0].Element(s_svg + "polyline")!.Attribute("points")!).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            Assert.Equal(((string?)timeline.Attribute("id"))!.EndsWith("-hit", StringComparison.Ordinal) ? 2 : 3, points);
        }
        // The CDF has a log TTFT axis (0.2 .. 200 s spans three decades).
        Assert.Contains(all[2].Elements(s_svg + "text"), t => t.Value == "TTFT (s) (log)");
        // ... and a linear fraction axis that ends at 1 (not at the next round step above it).
        string[] labels = all[2].Elements(s_svg + "text").Select(t => t.Value).ToArray();
        Assert.Contains("1", labels);
        Assert.DoesNotContain("1.2", labels);
        string[] kvLabels = all[4].Elements(s_svg + "text").Select(t => t.Value).ToArray(); // KV use up to 99%: the axis ends at 100
        Assert.Contains("100", kvLabels);
        Assert.DoesNotContain("120", kvLabels);
        foreach (XElement chart in charts)
        {
            XElement[] series = chart.Elements(s_svg + "g").Where(g => (string?)g.Attribute("class") == "series").ToArray();
            Assert.Equal(["round-robin", "fastepp-default"], series.Select(g => (string?)g.Attribute("data-name")));
            Assert.All(series, g => Assert.Single(g.Elements(s_svg + "polyline")));
        }
        Assert.Empty(charts[2].Descendants(s_svg + "circle")); // CDF lines carry no per-point markers
        // The NaN stage is dropped from the TTFT line only.
        Assert.Equal(2, charts[0].Elements(s_svg + "g").First().Elements(s_svg + "circle").Count());
        Assert.Equal(3, charts[1].Elements(s_svg + "g").First().Elements(s_svg + "circle").Count());
        // Self-contained: no scripts, no external resources.
        Assert.Empty(doc.Descendants(s_xhtml + "script"));
        Assert.DoesNotContain(doc.Descendants(), e => e.Attribute("src") is not null || e.Attribute("href") is not null);
        Assert.Contains(doc.Descendants(s_xhtml + "li"), li => li.Value.Contains("test <&> source"));
        XElement overall = doc.Descendants(s_xhtml + "table").First(t => (string?)t.Attribute("id") == "overall");
        Assert.Equal(2, overall.Element(s_xhtml + "tbody")!.Elements(s_xhtml + "tr").Count());
    }

    [Fact]
    public void Verdicts_StateRatiosAgainstRoundRobin_InEveryOutput()
    {
        CompareReport report = SampleReport();
        // Overall = stage 3: TTFT p90 6 s (round robin) vs 0.6 s, throughput 3000 vs 3000.
        string verdict = Assert.Single(ReportWriter.Verdicts(report));
        Assert.StartsWith("fastepp-default vs round-robin: TTFT p90 0.6 s vs 6 s (10× lower); output 3000 vs 3000 tok/s (1×)", verdict);

        report.Modes[1].Overall.Ttft.P90 = 12;
        Assert.Contains("(2× higher)", Assert.Single(ReportWriter.Verdicts(report)));

        ReportWriter.WriteAll(report, _dir);
        Assert.Contains("(2× higher)", File.ReadAllText(Path.Combine(_dir, "summary.md")));
        Assert.Contains("(2× higher)", File.ReadAllText(Path.Combine(_dir, "report.html")));

        report.Modes.RemoveAt(0); // no baseline, no verdict
        Assert.Empty(ReportWriter.Verdicts(report));
    }

    [Theory]
    [InlineData(0.13, 0.2)]
    [InlineData(690.2, 1000)]
    [InlineData(6.6, 10)]
    [InlineData(1.5, 2)]
    [InlineData(3, 5)]
    [InlineData(0, 1)]
    public void NiceStep_RoundsUpToOneTwoOrFive(double rough, double expected) =>
        Assert.Equal(expected, SvgChart.NiceStep(rough), 9);

    [Fact]
    public void WriteAll_JsonAndMarkdownCarryEveryMode()
    {
        ReportWriter.WriteAll(SampleReport(), _dir);

        using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "summary.json")));
        JsonElement modes = json.RootElement.GetProperty("modes");
        Assert.Equal(2, modes.GetArrayLength());
        Assert.Equal("fastepp-default", modes[1].GetProperty("mode").GetString());
        Assert.Equal(3, modes[1].GetProperty("stages").GetArrayLength());
        string md = File.ReadAllText(Path.Combine(_dir, "summary.md"));
        Assert.Contains("| round-robin |", md);
        Assert.Contains("## fastepp-default", md);
    }

    [Fact]
    public void TtftCdf_IsOverEveryRequestSent_SoErrorsKeepItBelowOne()
    {
        var results = new RequestResult[10];
        for (int i = 0; i < 10; i++)
            results[i] = new RequestResult { Ok = i < 8, Ttft = i < 8 ? 0.1 * (8 - i) : double.NaN };
        List<CdfPoint> cdf = StatsBuilder.TtftCdf(results, 200);
        Assert.Equal(8, cdf.Count);
        Assert.Equal(0.1, cdf[0].Seconds, 9);
        Assert.Equal(0.1, cdf[0].Fraction, 9);
        Assert.Equal(0.8, cdf[^1].Seconds, 9);
        Assert.Equal(0.8, cdf[^1].Fraction, 9);   // 2 of 10 never got a first token
        // Thinned to about maxPoints, always ending at the slowest request.
        List<CdfPoint> thin = StatsBuilder.TtftCdf(results, 3);
        Assert.True(thin.Count <= 4);
        Assert.Equal(0.8, thin[^1].Seconds, 9);
        Assert.Empty(StatsBuilder.TtftCdf([], 10));
    }

    [Fact]
    public void StatsBuilder_PercentilesAndThroughputPerStage()
    {
        var results = new List<RequestResult>();
        for (int i = 0; i < 100; i++)
            results.Add(new RequestResult { Stage = 0, Ok = true, SentAt = i * 0.1, FinishedAt = 10, Ttft = (i + 1) / 100.0, E2e = 1, OutputTokens = 11 });
        results.Add(new RequestResult { Stage = 1, Ok = false, SentAt = 10.5, FinishedAt = 11, Ttft = double.NaN });

        (List<StageReport> stages, StageReport overall) = StatsBuilder.Build(results.ToArray(), [new Stage(10, 10), new Stage(20, 10)]);

        Assert.Equal(0.505, stages[0].Ttft.P50, 6);
        Assert.Equal(0.901, stages[0].Ttft.P90, 6);
        Assert.Equal(110.0, stages[0].OutputTokensPerSecond, 6); // 1,100 tokens over the 10 s to the last completion
        Assert.Equal(1, stages[1].Errors);
        Assert.Equal(0, stages[1].Completed);
        Assert.Equal(101, overall.Sent);
        Assert.Equal(15, overall.OfferedRate, 6);
    }

    private static WorkloadSpec Builtin(string name) => WorkloadCatalog.Find(name)!.Spec;

    [Fact]
    public void PromptFactory_SameSeedSameRequests_ExactTokenCounts()
    {
        WorkloadSpec spec = Builtin("many-system-prompts").Scale(0.1, 0.1);
        var a = new PromptFactory(spec, "m", 7, 16_000);
        var b = new PromptFactory(spec, "m", 7, 16_000);

        for (int i = 0; i < 5; i++)
        {
            PlannedRequest ra = a.Next(), rb = b.Next();
            Assert.Equal(ra.Body, rb.Body);
            Assert.Equal(6000 + 1200, ra.InputTokens);
            using JsonDocument doc = JsonDocument.Parse(ra.Body);
            JsonElement messages = doc.RootElement.GetProperty("messages");
            Assert.Equal(6000 * 4, messages[0].GetProperty("content").GetString()!.Length);
            Assert.Equal(1200 * 4, messages[1].GetProperty("content").GetString()!.Length);
            Assert.Equal(1000, doc.RootElement.GetProperty("max_tokens").GetInt32());
            Assert.True(doc.RootElement.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        }
    }

    [Fact]
    public void PromptFactory_MultiTurn_GrowsHistoryAndRestartsBeforeTheLimit()
    {
        WorkloadSpec spec = Builtin("multi-chat-short") with { Groups = 1, PromptsPerGroup = 1 };
        var f = new PromptFactory(spec, "m", 3, 8_000);
        int previous = 0, restarts = 0;
        for (int i = 0; i < 40; i++)
        {
            PlannedRequest r = f.Next();
            Assert.True(r.InputTokens + r.OutputTokens <= 8_000);
            if (r.InputTokens < previous)
                restarts++;
            previous = r.InputTokens;
        }
        Assert.True(restarts > 0);
    }

    [Fact]
    public void Scale_KeepsTokenLengths_ScalesRatesGroupsReplicas()
    {
        WorkloadSpec s = Builtin("many-system-prompts").Scale(0.25, 0.5);

        Assert.Equal(38, s.Groups);
        Assert.Equal(2, s.Replicas);
        Assert.Equal(3.75, s.Stages[0].Rate, 6);
        Assert.Equal(25, s.Stages[0].Seconds, 6);
        Assert.Equal(LengthDist.Fixed(6000), s.SystemPrompt);
        Assert.Equal(12, s.Stages.Length);
    }
}
