using System.Buffers;
using System.Buffers.Text;
using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FastEpp.Hosting.Logging;

/// <summary>A log field value that writes itself as JSON (e.g. the "Flags processed" map with typed values).</summary>
internal interface IZapValue
{
    void WriteTo(Utf8JsonWriter writer);
}

/// <summary>
/// Writes log lines the way the reference's zap logger does (spec runtime.md §6.2), UTF-8 straight to a stream
/// (stderr): one JSON object per line with <c>level</c>, <c>ts</c>, <c>logger</c>, <c>caller</c>, <c>msg</c>, then the
/// message's structured fields, then <c>error</c> and <c>stacktrace</c>; or zap's console shape
/// (<c>ts␉level␉logger␉caller␉msg␉{fields}</c>). No reflection (AOT-clean); each line is built in a per-thread
/// buffer and written with one call under a lock, so lines from different threads never interleave.
/// </summary>
internal sealed class ZapLoggerProvider : ILoggerProvider
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // zap escapes only what JSON requires
        SkipValidation = true,
    };

    [ThreadStatic] private static LineBuffer? t_buffer;

    private readonly Stream _output;
    private readonly Lock _writeLock = new();
    private readonly TimeProvider _time;
    private readonly ZapSampler? _sampler;

    public ZapOptions Options { get; }

    public ZapLoggerProvider(ZapOptions options, Stream output, TimeProvider? time = null)
    {
        Options = options;
        _output = output;
        _time = time ?? TimeProvider.System;
        _sampler = options.Sampling ? new ZapSampler(_time) : null;
    }

    /// <summary>The lowest .NET level any line can pass at (for the factory's global filter).</summary>
    public LogLevel MinimumLevel =>
        Options.Threshold <= -ZapOptions.Trace ? LogLevel.Trace
        : Options.Threshold <= -ZapOptions.Debug ? LogLevel.Debug
        : Options.Threshold <= ZapOptions.InfoLevel ? LogLevel.Information
        : Options.Threshold <= ZapOptions.WarnLevel ? LogLevel.Warning
        : Options.Threshold <= ZapOptions.ErrorLevel ? LogLevel.Error
        : LogLevel.Critical;

    public ILogger CreateLogger(string categoryName) => new ZapLogger(this, LoggerName(categoryName), CallerName(categoryName));

    public void Dispose() => _output.Flush();

    /// <summary>zap's <c>logger</c> key: the category without the assembly's "FastEpp." prefix (the reference uses short
    /// dotted names such as <c>setup</c>).</summary>
    internal static string LoggerName(string category) =>
        category.StartsWith("FastEpp.", StringComparison.Ordinal) ? category["FastEpp.".Length..] : category;

    /// <summary>zap's <c>caller</c> is <c>file.go:line</c>; a .NET logger has no call site, so the type name stands for
    /// the file and the event id for the line (<c>MetricsPoller:5001</c>): the same <c>name:number</c> shape, stable
    /// across builds.</summary>
    internal static string CallerName(string category)
    {
        int dot = category.LastIndexOf('.');
        return dot >= 0 ? category[(dot + 1)..] : category;
    }

    private sealed class ZapLogger(ZapLoggerProvider provider, string name, string caller) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) =>
            logLevel != LogLevel.None && ZapOptions.ZapLevel(logLevel) >= provider.Options.Threshold;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            int level = ZapOptions.ZapLevel(logLevel);
            var fields = state as IReadOnlyList<KeyValuePair<string, object?>>;
            if (provider._sampler is { } sampler && !sampler.Allow(level, SamplingKey(fields, state)))
                return;
            string message = formatter(state, exception);
            provider.Write(level, name, caller, eventId.Id, message, fields, exception);
        }

        // zap samples per message; a .NET message carries its values, so the constant template stands for it.
        private static object? SamplingKey<TState>(IReadOnlyList<KeyValuePair<string, object?>>? fields, TState state)
        {
            if (fields is not null)
            {
                for (int i = fields.Count - 1; i >= 0; i--)
                    if (fields[i].Key == "{OriginalFormat}")
                        return fields[i].Value;
            }
            return state;
        }
    }

    private void Write(int level, string name, string caller, int eventId, string message,
        IReadOnlyList<KeyValuePair<string, object?>>? fields, Exception? exception)
    {
        var buffer = t_buffer ??= new LineBuffer();
        var bytes = buffer.Bytes;
        bytes.ResetWrittenCount();
        var json = buffer.Json;
        json.Reset(bytes);
        var now = _time.GetUtcNow();
        string? stack = level >= Options.StacktraceLevel ? exception?.ToString() ?? Environment.StackTrace : null;

        if (Options.Encoder == ZapEncoder.Json)
        {
            json.WriteStartObject();
            json.WriteString("level"u8, ZapOptions.LevelText(level));
            json.WritePropertyName("ts"u8);
            WriteTime(json, now);
            json.WriteString("logger"u8, name);
            WriteCaller(json, "caller"u8, caller, eventId);
            json.WriteString("msg"u8, message);
            WriteFields(json, fields, exception);
            if (stack is not null)
                json.WriteString("stacktrace"u8, stack);
            json.WriteEndObject();
            json.Flush();
        }
        else
        {
            // zap's console encoder: tab-separated time, level, name, caller, message, then the fields as one JSON object.
            AppendTimeText(bytes, now);
            AppendText(bytes, "\t");
            AppendText(bytes, ZapOptions.LevelText(level));
            AppendText(bytes, "\t");
            AppendText(bytes, name);
            AppendText(bytes, "\t");
            AppendText(bytes, caller);
            AppendText(bytes, ":");
            AppendText(bytes, eventId.ToString(CultureInfo.InvariantCulture));
            AppendText(bytes, "\t");
            AppendText(bytes, message);
            if (HasFields(fields) || exception is not null)
            {
                AppendText(bytes, "\t");
                json.Reset(bytes);
                json.WriteStartObject();
                WriteFields(json, fields, exception);
                json.WriteEndObject();
                json.Flush();
            }
            if (stack is not null)
            {
                AppendText(bytes, "\n");
                AppendText(bytes, stack);
            }
        }
        bytes.GetSpan(1)[0] = (byte)'\n';
        bytes.Advance(1);
        lock (_writeLock)
        {
            try
            {
                _output.Write(bytes.WrittenSpan);
            }
            catch (IOException)
            {
                // stderr closed (e.g. the reader went away): logging must never take the process down.
            }
            catch (ObjectDisposedException)
            {
            }
        }
        if (bytes.Capacity > 64 * 1024)
            t_buffer = null; // a huge line (a stack trace, a big config) does not pin its buffer to the thread
    }

    private static void WriteCaller(Utf8JsonWriter json, ReadOnlySpan<byte> key, string caller, int eventId)
    {
        Span<char> chars = stackalloc char[caller.Length + 12];
        caller.AsSpan().CopyTo(chars);
        chars[caller.Length] = ':';
        eventId.TryFormat(chars[(caller.Length + 1)..], out int n, default, CultureInfo.InvariantCulture);
        json.WriteString(key, chars[..(caller.Length + 1 + n)]);
    }

    private static bool HasFields(IReadOnlyList<KeyValuePair<string, object?>>? fields)
    {
        if (fields is null)
            return false;
        for (int i = 0; i < fields.Count; i++)
            if (fields[i].Key != "{OriginalFormat}")
                return true;
        return false;
    }

    private static void WriteFields(Utf8JsonWriter json, IReadOnlyList<KeyValuePair<string, object?>>? fields, Exception? exception)
    {
        if (fields is not null)
        {
            bool exactKeys = fields is ZapEntry; // the reference's keys as written ("InferencePool", "requestID")
            for (int i = 0; i < fields.Count; i++)
            {
                var (key, value) = fields[i];
                if (key == "{OriginalFormat}")
                    continue;
                if (exactKeys)
                    json.WritePropertyName(key);
                else
                    WriteKey(json, key);
                WriteValue(json, value, 0);
            }
        }
        if (exception is not null)
            json.WriteString("error"u8, exception.Message); // logr's Error(err, msg) → "error": err.Error()
    }

    /// <summary>.NET message templates use PascalCase holes ({RequestId}); zap keys are lower camel case (requestId).</summary>
    private static void WriteKey(Utf8JsonWriter json, string key)
    {
        if (key.Length == 0 || !char.IsAsciiLetterUpper(key[0]))
        {
            json.WritePropertyName(key);
            return;
        }
        Span<char> chars = key.Length <= 128 ? stackalloc char[key.Length] : new char[key.Length];
        key.AsSpan().CopyTo(chars);
        chars[0] = char.ToLowerInvariant(chars[0]);
        json.WritePropertyName(chars);
    }

    private static void WriteValue(Utf8JsonWriter json, object? value, int depth)
    {
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case string s: json.WriteStringValue(s); break;
            case bool b: json.WriteBooleanValue(b); break;
            case int i: json.WriteNumberValue(i); break;
            case long l: json.WriteNumberValue(l); break;
            case uint u: json.WriteNumberValue(u); break;
            case ulong ul: json.WriteNumberValue(ul); break;
            case short sh: json.WriteNumberValue(sh); break;
            case ushort us: json.WriteNumberValue(us); break;
            case byte by: json.WriteNumberValue(by); break;
            case decimal m: json.WriteNumberValue(m); break;
            case double d:
                if (double.IsFinite(d)) json.WriteNumberValue(d);
                else json.WriteStringValue(double.IsNaN(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf"); // zap's float encoding
                break;
            case float f:
                if (float.IsFinite(f)) json.WriteNumberValue(f);
                else json.WriteStringValue(float.IsNaN(f) ? "NaN" : f > 0 ? "+Inf" : "-Inf");
                break;
            case TimeSpan ts: json.WriteNumberValue(ts.TotalSeconds); break; // zap production: durations in seconds
            case DateTimeOffset dto: json.WriteStringValue(dto.UtcDateTime); break;
            case DateTime dt: json.WriteStringValue(dt); break;
            case IZapValue z: z.WriteTo(json); break;
            case Exception e: json.WriteStringValue(e.Message); break;
            case IEnumerable<KeyValuePair<string, string>> map when depth < 4:
                json.WriteStartObject();
                foreach (var (k, v) in map)
                    json.WriteString(k, v);
                json.WriteEndObject();
                break;
            case IEnumerable<KeyValuePair<string, object?>> objectMap when depth < 4:
                json.WriteStartObject();
                foreach (var (k, v) in objectMap)
                {
                    json.WritePropertyName(k);
                    WriteValue(json, v, depth + 1);
                }
                json.WriteEndObject();
                break;
            case IEnumerable items when depth < 4:
                json.WriteStartArray();
                foreach (var item in items)
                    WriteValue(json, item, depth + 1);
                json.WriteEndArray();
                break;
            default: json.WriteStringValue(value.ToString()); break;
        }
    }

    private void WriteTime(Utf8JsonWriter json, DateTimeOffset now)
    {
        long unixTicks = now.UtcTicks - DateTime.UnixEpoch.Ticks;
        switch (Options.TimeEncoding)
        {
            case ZapTimeEncoding.Epoch: json.WriteNumberValue(unixTicks / (double)TimeSpan.TicksPerSecond); break;
            case ZapTimeEncoding.Millis: json.WriteNumberValue(unixTicks / (double)TimeSpan.TicksPerMillisecond); break;
            case ZapTimeEncoding.Nano: json.WriteNumberValue(unixTicks * 100); break;
            default:
                Span<char> text = stackalloc char[40];
                json.WriteStringValue(text[..FormatTime(text, now)]);
                break;
        }
    }

    private void AppendTimeText(ArrayBufferWriter<byte> bytes, DateTimeOffset now)
    {
        long unixTicks = now.UtcTicks - DateTime.UnixEpoch.Ticks;
        var span = bytes.GetSpan(48);
        int n;
        switch (Options.TimeEncoding)
        {
            case ZapTimeEncoding.Epoch: Utf8Formatter.TryFormat(unixTicks / (double)TimeSpan.TicksPerSecond, span, out n); break;
            case ZapTimeEncoding.Millis: Utf8Formatter.TryFormat(unixTicks / (double)TimeSpan.TicksPerMillisecond, span, out n); break;
            case ZapTimeEncoding.Nano: Utf8Formatter.TryFormat(unixTicks * 100, span, out n); break;
            default:
                Span<char> text = stackalloc char[40];
                n = Encoding.UTF8.GetBytes(text[..FormatTime(text, now)], span);
                break;
        }
        bytes.Advance(n);
    }

    // zap's layouts, in UTC: ISO8601 "2006-01-02T15:04:05.000Z0700", RFC3339 "…05Z07:00", RFC3339Nano with trailing zeros trimmed.
    private int FormatTime(Span<char> text, DateTimeOffset now)
    {
        string format = Options.TimeEncoding switch
        {
            ZapTimeEncoding.Iso8601 => "yyyy-MM-dd'T'HH:mm:ss.fff'Z'",
            ZapTimeEncoding.Rfc3339 => "yyyy-MM-dd'T'HH:mm:ss'Z'",
            _ => "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'",
        };
        now.UtcDateTime.TryFormat(text, out int n, format, CultureInfo.InvariantCulture);
        return n;
    }

    private static void AppendText(ArrayBufferWriter<byte> bytes, string text)
    {
        var span = bytes.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        bytes.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    private sealed class LineBuffer
    {
        public readonly ArrayBufferWriter<byte> Bytes = new(512);
        public readonly Utf8JsonWriter Json;

        public LineBuffer() => Json = new Utf8JsonWriter(Bytes, WriterOptions);
    }
}

/// <summary>
/// zap's production sampler (zapcore.NewSamplerWithOptions(core, 1s, 100, 100)), which controller-runtime installs
/// in front of the reference's logger: per level and message, the first 100 lines of each second are written, then
/// every 100th. Keys hash into a fixed table (zap: 4096 slots per level), so a flood costs no memory.
/// </summary>
internal sealed class ZapSampler(TimeProvider time)
{
    private const int Slots = 4096, First = 100, Thereafter = 100;
    private const int Levels = 11; // zap levels −5 … 5
    private readonly long[] _resetAt = new long[Levels * Slots];
    private readonly int[] _counts = new int[Levels * Slots];
    private readonly long _tick = TimeSpan.TicksPerSecond;

    public bool Allow(int zapLevel, object? key)
    {
        int levelIndex = Math.Clamp(zapLevel + 5, 0, Levels - 1);
        int hash = key is string s ? s.GetHashCode() : System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(key);
        int slot = levelIndex * Slots + (int)((uint)hash % Slots);
        long now = time.GetUtcNow().UtcTicks;
        long resetAt = Volatile.Read(ref _resetAt[slot]);
        if (now >= resetAt)
        {
            // First line of a new second for this slot: whoever wins the exchange starts the new window.
            if (Interlocked.CompareExchange(ref _resetAt[slot], now + _tick, resetAt) == resetAt)
            {
                Volatile.Write(ref _counts[slot], 1);
                return true;
            }
        }
        int n = Interlocked.Increment(ref _counts[slot]);
        return n <= First || (n - First) % Thereafter == 0;
    }
}
