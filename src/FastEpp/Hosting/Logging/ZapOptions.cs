namespace FastEpp.Hosting.Logging;

/// <summary>Output shape of a log line: zap's JSON encoder (the reference's only output) or its console encoder.</summary>
internal enum ZapEncoder
{
    Json,
    Console,
}

/// <summary>zap's time encoders (<c>--zap-time-encoding</c>).</summary>
internal enum ZapTimeEncoding
{
    /// <summary>Unix seconds as a float (zap's production default and the reference's only shape).</summary>
    Epoch,
    Millis,
    Nano,
    Iso8601,
    Rfc3339,
    Rfc3339Nano,
}

/// <summary>
/// The logger's settings, derived from the reference's flags (<c>-v</c> and controller-runtime's
/// <c>--zap-*</c>). Levels are zap levels: logr V(n) is zap level −n, info 0, warn 1, error 2, dpanic 3,
/// panic 4, fatal 5. A line is written when its zap level is ≥ <see cref="Threshold"/>.
/// </summary>
internal sealed record ZapOptions
{
    public const int InfoLevel = 0;
    public const int WarnLevel = 1;
    public const int ErrorLevel = 2;
    public const int DPanicLevel = 3;
    public const int PanicLevel = 4;

    /// <summary>The reference's named verbosities (pkg/common/observability/logging/const.go).</summary>
    public const int Default = 2, Verbose = 3, Debug = 4, Trace = 5;

    /// <summary>Lowest zap level written; −v by default (−2: info lines and V(1)/V(2), no debug/trace).</summary>
    public int Threshold { get; init; } = -Default;
    public ZapEncoder Encoder { get; init; } = ZapEncoder.Json;
    public ZapTimeEncoding TimeEncoding { get; init; } = ZapTimeEncoding.Epoch;
    /// <summary>Lines at or above this zap level carry a <c>stacktrace</c> key (production: error; development: warn).</summary>
    public int StacktraceLevel { get; init; } = ErrorLevel;
    /// <summary>zap's production sampler: per message and level, the first 100 lines of each second, then every 100th.</summary>
    public bool Sampling { get; init; } = true;

    /// <summary>Maps a .NET level to the zap level it is written at: Trace = V(5), Debug = V(4), Information = info,
    /// Warning = warn, Error = error, Critical = dpanic (logged, never panics, as zap's production dpanic).</summary>
    public static int ZapLevel(LogLevel level) => level switch
    {
        LogLevel.Trace => -Trace,
        LogLevel.Debug => -Debug,
        LogLevel.Information => InfoLevel,
        LogLevel.Warning => WarnLevel,
        LogLevel.Error => ErrorLevel,
        _ => DPanicLevel,
    };

    /// <summary>The level text of the reference's encoder: ≥0 zap's lowercase names, −1..−3 <c>info</c>, −4 <c>debug</c>, below <c>trace</c>.</summary>
    public static string LevelText(int zapLevel) => zapLevel switch
    {
        0 => "info",
        1 => "warn",
        2 => "error",
        3 => "dpanic",
        4 => "panic",
        >= 5 => "fatal",
        -4 => "debug",
        >= -3 => "info",
        _ => "trace",
    };

    /// <summary>Parses controller-runtime's <c>--zap-log-level</c>: debug, info, error, panic or an integer &gt; 0 (= V level).</summary>
    public static bool TryParseLevel(string text, out int zapLevel)
    {
        switch (text)
        {
            case "debug": zapLevel = -1; return true;
            case "info": zapLevel = InfoLevel; return true;
            case "error": zapLevel = ErrorLevel; return true;
            case "panic": zapLevel = PanicLevel; return true;
        }
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            zapLevel = -n;
            return true;
        }
        zapLevel = 0;
        return false;
    }

    /// <summary>Parses <c>--zap-stacktrace-level</c>: info, error or panic.</summary>
    public static bool TryParseStacktraceLevel(string text, out int zapLevel)
    {
        zapLevel = text switch { "info" => InfoLevel, "error" => ErrorLevel, "panic" => PanicLevel, _ => int.MinValue };
        return zapLevel != int.MinValue;
    }

    public static bool TryParseEncoder(string text, out ZapEncoder encoder)
    {
        encoder = text == "console" ? ZapEncoder.Console : ZapEncoder.Json;
        return text is "json" or "console";
    }

    public static bool TryParseTimeEncoding(string text, out ZapTimeEncoding encoding)
    {
        encoding = text switch
        {
            "epoch" => ZapTimeEncoding.Epoch,
            "millis" => ZapTimeEncoding.Millis,
            "nano" => ZapTimeEncoding.Nano,
            "iso8601" => ZapTimeEncoding.Iso8601,
            "rfc3339" => ZapTimeEncoding.Rfc3339,
            "rfc3339nano" => ZapTimeEncoding.Rfc3339Nano,
            _ => (ZapTimeEncoding)(-1),
        };
        return encoding >= 0;
    }

    /// <summary>
    /// Builds the options from the parsed flags. Level: <c>--zap-log-level</c> when given, else −v (the reference's
    /// LoggingOptions.Complete). <c>--zap-devel</c> given as true switches to zap's development defaults (console,
    /// ISO 8601 time, stack traces from warn, no sampling); explicit flags win over those defaults.
    /// </summary>
    public static ZapOptions FromFlags(int verbosity, string? level, bool development, string? encoder, string? timeEncoding, string? stacktraceLevel)
    {
        int threshold = -(verbosity < 0 ? Default : verbosity);
        if (level is not null && TryParseLevel(level, out var l))
            threshold = l;
        var o = new ZapOptions { Threshold = threshold };
        if (development)
            o = o with { Encoder = ZapEncoder.Console, TimeEncoding = ZapTimeEncoding.Iso8601, StacktraceLevel = WarnLevel, Sampling = false };
        if (encoder is not null && TryParseEncoder(encoder, out var e))
            o = o with { Encoder = e };
        if (timeEncoding is not null && TryParseTimeEncoding(timeEncoding, out var t))
            o = o with { TimeEncoding = t };
        if (stacktraceLevel is not null && TryParseStacktraceLevel(stacktraceLevel, out var s))
            o = o with { StacktraceLevel = s };
        return o;
    }
}
