using System.Text;
using System.Text.Json;
using FastEpp.Hosting;
using FastEpp.Hosting.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace FastEpp.Tests.Operations;

/// <summary>
/// The log lines an operator's pipeline parses (issue 12 §3, spec runtime.md §6.2): the whole program runs
/// in-process with its log stream captured, every line is parsed as JSON, keys and level mapping are checked.
/// </summary>
public sealed class ZapLoggingTests
{
    private static readonly string[] ZapKeys = ["level", "ts", "logger", "caller", "msg"];

    private static readonly string[] BaseArgs =
        ["--endpoints", "127.0.0.1:1", "--secure-serving=false", "--bind-address", "127.0.0.1",
         "--grpc-port", "0", "--grpc-health-port", "0", "--metrics-port", "0", "--tracing=false"];

    /// <summary>Runs the program until <paramref name="ready"/> shows in the log, then stops it like SIGTERM.</summary>
    private static async Task<(int Exit, string[] Lines)> RunProgramAsync(string[] extra, string ready)
    {
        var capture = new LogCapture();
        using var stop = new CancellationTokenSource();
        var run = EppProgram.RunAsync([.. BaseArgs, .. extra], capture, stop.Token);
        await Wait.UntilAsync(() => capture.Contains(ready) || run.IsCompleted, $"log line containing {ready}");
        stop.Cancel();
        int exit = await run;
        return (exit, capture.Lines);
    }

    private static JsonElement[] ParseAll(string[] lines) =>
        lines.Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    private static JsonElement Single(JsonElement[] lines, string msg) =>
        Assert.Single(lines, l => l.GetProperty("msg").GetString() == msg);

    [Fact]
    public async Task Program_Default_WritesZapJsonLines()
    {
        var (exit, raw) = await RunProgramAsync([], "Scheduling profiles");
        Assert.Equal(0, exit);
        var lines = ParseAll(raw);
        Assert.NotEmpty(lines);
        double now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        foreach (var line in lines)
        {
            var keys = line.EnumerateObject().Select(p => p.Name).ToArray();
            Assert.Equal(ZapKeys, keys.Take(5));
            Assert.Equal(JsonValueKind.Number, line.GetProperty("ts").ValueKind);
            Assert.InRange(line.GetProperty("ts").GetDouble(), now - 600, now + 1);
            Assert.Matches(@"^\S+:\d+$", line.GetProperty("caller").GetString());
            Assert.Contains(line.GetProperty("level").GetString(), new[] { "info", "warn", "error" }); // -v=2: no debug/trace
        }

        var build = Single(lines, "GIE build");
        Assert.Equal("setup", build.GetProperty("logger").GetString());
        Assert.True(build.TryGetProperty("commit-sha", out _));

        var flags = Single(lines, "Flags processed").GetProperty("flags");
        Assert.Equal(0, flags.GetProperty("grpc-port").GetInt32());
        Assert.Equal(2, flags.GetProperty("v").GetInt32());
        Assert.False(flags.GetProperty("secure-serving").GetBoolean());
        Assert.Equal("127.0.0.1:1", flags.GetProperty("endpoints").GetString());
        Assert.Equal(50_000_000, flags.GetProperty("refresh-metrics-interval").GetInt64()); // Go's time.Duration: nanoseconds
        Assert.Equal(JsonValueKind.Array, flags.GetProperty("endpoint-target-ports").ValueKind);

        Assert.Equal("info", Single(lines, "Shutting down").GetProperty("level").GetString());
        Assert.DoesNotContain(lines, l => l.GetProperty("msg").GetString() == "Servers listening");
    }

    [Theory]
    [InlineData("-v=4")]
    [InlineData("--v=4")]
    [InlineData("--zap-log-level=4")]
    public async Task Program_Verbosity4_WritesDebugLines(string flag)
    {
        var (exit, raw) = await RunProgramAsync([flag], "Servers listening");
        Assert.Equal(0, exit);
        var listening = Single(ParseAll(raw), "Servers listening");
        Assert.Equal("debug", listening.GetProperty("level").GetString());
        Assert.InRange(listening.GetProperty("grpc-port").GetInt32(), 1, 65535);
    }

    [Fact]
    public async Task Program_ZapLogLevelError_OverridesV_AndErrorsCarryErrorAndStacktrace()
    {
        var capture = new LogCapture();
        int exit = await EppProgram.RunAsync([.. BaseArgs, "-v=5", "--zap-log-level=error", "--config-file", "/nonexistent/fastepp.yaml"],
            capture, CancellationToken.None);
        Assert.Equal(1, exit);
        var line = Assert.Single(ParseAll(capture.Lines)); // no info lines at --zap-log-level=error, despite -v=5
        Assert.Equal("error", line.GetProperty("level").GetString());
        Assert.Equal("Failed to start", line.GetProperty("msg").GetString());
        Assert.Contains("/nonexistent/fastepp.yaml", line.GetProperty("error").GetString());
        Assert.True(line.TryGetProperty("stacktrace", out _));
        Assert.Equal("stacktrace", line.EnumerateObject().Last().Name);
    }

    [Fact]
    public async Task Program_InvalidFlags_LogsTheReferenceMessage()
    {
        var capture = new LogCapture();
        Assert.Equal(1, await EppProgram.RunAsync(["--grpc-port=0"], capture, CancellationToken.None));
        var line = Single(ParseAll(capture.Lines), "Failed to validate flags");
        Assert.Equal("error", line.GetProperty("level").GetString());
        Assert.Contains("either pool-name or endpoint-selector must be set", line.GetProperty("error").GetString());
        Assert.DoesNotContain(capture.Lines, l => l.Contains("Flags processed", StringComparison.Ordinal)); // validated first, as the reference
    }

    [Fact]
    public async Task Program_ConsoleEncoder_WritesTabSeparatedLines()
    {
        var (exit, raw) = await RunProgramAsync(["--zap-encoder", "console"], "Scheduling profiles");
        Assert.Equal(0, exit);
        var flags = Assert.Single(raw, l => l.Contains("\tFlags processed\t", StringComparison.Ordinal));
        var parts = flags.Split('\t');
        Assert.True(double.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out _), parts[0]);
        Assert.Equal(["info", "setup"], parts[1..3]);
        Assert.Equal("Flags processed", parts[4]);
        Assert.Equal(0, JsonDocument.Parse(parts[5]).RootElement.GetProperty("flags").GetProperty("grpc-port").GetInt32());
    }

    [Theory]
    [InlineData("--zap-encoder=yaml")]
    [InlineData("--zap-log-level=verbose")]
    [InlineData("--zap-log-level=0")]
    [InlineData("--zap-stacktrace-level=warn")]
    [InlineData("--zap-time-encoding=unix")]
    public void BadZapFlags_AreUsageErrors(string arg) =>
        Assert.Throws<FlagException>(() => EppOptions.Parse(["--pool-name=p", arg]));

    // ---- the provider on its own, with a fixed clock ----

    private static (ILogger Logger, LogCapture Capture) Create(ZapOptions options, FakeTimeProvider? time = null)
    {
        var capture = new LogCapture();
        var provider = new ZapLoggerProvider(options, capture, time ?? new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_500)));
        return (provider.CreateLogger("FastEpp.Metrics.MetricsPoller"), capture);
    }

    [Theory]
    [InlineData(LogLevel.Trace, "trace")]
    [InlineData(LogLevel.Debug, "debug")]
    [InlineData(LogLevel.Information, "info")]
    [InlineData(LogLevel.Warning, "warn")]
    [InlineData(LogLevel.Error, "error")]
    [InlineData(LogLevel.Critical, "dpanic")]
    public void Levels_MapToZapNames(LogLevel level, string expected)
    {
        var (logger, capture) = Create(new ZapOptions { Threshold = -5 });
        logger.Log(level, new EventId(5001), "Scrape of {Endpoint} failed", "10.0.0.1:8000");
        var line = JsonDocument.Parse(Assert.Single(capture.Lines)).RootElement;
        Assert.Equal(expected, line.GetProperty("level").GetString());
        Assert.Equal("Metrics.MetricsPoller", line.GetProperty("logger").GetString());
        Assert.Equal("MetricsPoller:5001", line.GetProperty("caller").GetString());
        Assert.Equal("Scrape of 10.0.0.1:8000 failed", line.GetProperty("msg").GetString());
        Assert.Equal("10.0.0.1:8000", line.GetProperty("endpoint").GetString()); // template hole → lower camel key
    }

    [Theory]
    [InlineData(2, false, false)] // default -v=2: info and V(1)..V(2), no debug
    [InlineData(3, false, false)]
    [InlineData(4, true, false)]
    [InlineData(5, true, true)]
    public void Verbosity_GatesDebugAndTrace(int v, bool debug, bool trace)
    {
        var (logger, capture) = Create(ZapOptions.FromFlags(v, null, false, null, null, null));
        logger.LogDebug("a debug line");
        logger.LogTrace("a trace line");
        logger.LogInformation("an info line");
        Assert.Equal(debug, capture.Contains("a debug line"));
        Assert.Equal(trace, capture.Contains("a trace line"));
        Assert.True(capture.Contains("an info line"));
        Assert.Equal(debug, logger.IsEnabled(LogLevel.Debug));
    }

    [Theory]
    [InlineData("info", true, true)]
    [InlineData("debug", true, true)] // zap debug = V(1): info lines yes, .NET Debug (= V(4)) no
    [InlineData("error", false, false)]
    [InlineData("panic", false, false)]
    public void ZapLogLevel_Names(string level, bool info, bool warn)
    {
        var (logger, capture) = Create(ZapOptions.FromFlags(5, level, false, null, null, null));
        logger.LogDebug("d");
        logger.LogInformation("i");
        logger.LogWarning("w");
        Assert.False(capture.Contains("\"msg\":\"d\""));
        Assert.Equal(info, capture.Contains("\"msg\":\"i\""));
        Assert.Equal(warn, capture.Contains("\"msg\":\"w\""));
    }

    [Theory]
    [InlineData(null, "1700000000.5")]
    [InlineData("epoch", "1700000000.5")]
    [InlineData("millis", "1700000000500")]
    [InlineData("nano", "1700000000500000000")]
    [InlineData("iso8601", "\"2023-11-14T22:13:20.500Z\"")]
    [InlineData("rfc3339", "\"2023-11-14T22:13:20Z\"")]
    [InlineData("rfc3339nano", "\"2023-11-14T22:13:20.5Z\"")]
    public void TimeEncodings(string? encoding, string expectedTs)
    {
        var (logger, capture) = Create(ZapOptions.FromFlags(2, null, false, null, encoding, null));
        logger.LogInformation("x");
        var line = JsonDocument.Parse(Assert.Single(capture.Lines)).RootElement;
        Assert.Equal(expectedTs, line.GetProperty("ts").GetRawText());
    }

    [Fact]
    public void Stacktraces_FromTheStacktraceLevel_WithTheException()
    {
        var (logger, capture) = Create(ZapOptions.FromFlags(2, null, false, null, null, null));
        logger.LogWarning("w");
        logger.LogError(new InvalidOperationException("boom"), "e");
        var lines = ParseAll(capture.Lines);
        Assert.False(lines[0].TryGetProperty("stacktrace", out _));
        Assert.Equal("boom", lines[1].GetProperty("error").GetString());
        Assert.Contains("InvalidOperationException", lines[1].GetProperty("stacktrace").GetString());

        var (infoLogger, infoCapture) = Create(ZapOptions.FromFlags(2, null, false, null, null, "info"));
        infoLogger.LogInformation("i");
        Assert.True(ParseAll(infoCapture.Lines)[0].TryGetProperty("stacktrace", out _));
    }

    [Fact]
    public void Devel_IsConsoleIso8601_WarnStacktraces_Unsampled_UnlessOverridden()
    {
        var devel = ZapOptions.FromFlags(2, null, true, null, null, null);
        Assert.Equal(new ZapOptions { Encoder = ZapEncoder.Console, TimeEncoding = ZapTimeEncoding.Iso8601, StacktraceLevel = 1, Sampling = false }, devel);
        Assert.Equal(ZapEncoder.Json, ZapOptions.FromFlags(2, null, true, "json", null, null).Encoder);
        Assert.Equal(-2, devel.Threshold); // the level still comes from -v, as the reference's Complete()
    }

    [Fact]
    public void Sampler_FirstHundredPerSecond_ThenEveryHundredth()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        var (logger, capture) = Create(new ZapOptions(), time);
        for (int i = 0; i < 250; i++)
            logger.LogWarning("Scrape of {Endpoint} failed", i);
        logger.LogWarning("another message");
        Assert.Equal(100 + 1 + 1, capture.Lines.Length); // lines 1..100, the 200th, and the other message
        time.Advance(TimeSpan.FromSeconds(1));
        logger.LogWarning("Scrape of {Endpoint} failed", 0);
        Assert.Equal(103, capture.Lines.Length);

        var (develLogger, develCapture) = Create(ZapOptions.FromFlags(2, null, true, "json", null, null), time);
        for (int i = 0; i < 250; i++)
            develLogger.LogWarning("Scrape of {Endpoint} failed", i);
        Assert.Equal(250, develCapture.Lines.Length);
    }

    [Fact]
    public void Values_AreTyped_AndEscaped()
    {
        var (logger, capture) = Create(new ZapOptions());
        logger.LogInformation("{Count} {Ratio} {Ok} {Elapsed} {Text} {Ports}", 3, 0.25, true, TimeSpan.FromMilliseconds(1500), "a \"b\"\n<é>", new[] { 8000, 8001 });
        var line = JsonDocument.Parse(Assert.Single(capture.Lines)).RootElement;
        Assert.Equal(3, line.GetProperty("count").GetInt32());
        Assert.Equal(0.25, line.GetProperty("ratio").GetDouble());
        Assert.True(line.GetProperty("ok").GetBoolean());
        Assert.Equal(1.5, line.GetProperty("elapsed").GetDouble());
        Assert.Equal("a \"b\"\n<é>", line.GetProperty("text").GetString());
        Assert.Equal("[8000,8001]", line.GetProperty("ports").GetRawText());
        Assert.Contains("<é>", capture.Lines[0]); // readable UTF-8, not \u-escaped
    }
}
