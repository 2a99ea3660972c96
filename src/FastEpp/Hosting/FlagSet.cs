using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FastEpp.Hosting;

/// <summary>
/// A small command-line parser with the reference's (spf13/pflag) conventions: <c>--name=value</c>,
/// <c>--name value</c>, bare booleans <c>--flag</c> / <c>--flag=false</c>, repeated or comma-separated
/// int slices, Go durations. Go's single-dash long form (<c>-name=value</c>) is accepted too.
/// Unknown flags and bad values are reported as <see cref="FlagException"/> (exit code 2).
/// </summary>
internal sealed class FlagSet
{
    private readonly Dictionary<string, Flag> _flags = new(StringComparer.Ordinal);
    private readonly List<Flag> _ordered = [];

    internal abstract class Flag(string name, string usage)
    {
        public string Name { get; } = name;
        public string Usage { get; } = usage;
        public bool Changed { get; set; }
        public string? Deprecated { get; init; }
        public virtual bool IsBool => false;
        public abstract void Set(string value);
        public abstract string DefaultText { get; }
        public abstract string ValueText { get; }
        /// <summary>The value as the reference's "Flags processed" line shows it (pflag values marshalled by zap:
        /// numbers, bools, strings; durations as nanoseconds like Go's time.Duration).</summary>
        public abstract void WriteJson(Utf8JsonWriter writer);
    }

    internal sealed class Value<T>(string name, T defaultValue, string usage, Func<string, T> parse, Func<T, string> format)
        : Flag(name, usage)
    {
        public T Current { get; private set; } = defaultValue;
        public T Default { get; } = defaultValue;
        public override bool IsBool => typeof(T) == typeof(bool);
        public override void Set(string value) => Current = parse(value);
        public override string DefaultText => format(Default);
        public override string ValueText => format(Current);
        public override void WriteJson(Utf8JsonWriter writer)
        {
            switch (Current)
            {
                case int i: writer.WriteNumberValue(i); break;
                case long l: writer.WriteNumberValue(l); break;
                case bool b: writer.WriteBooleanValue(b); break;
                case TimeSpan d: writer.WriteNumberValue(d.Ticks * 100); break;
                default: writer.WriteStringValue(ValueText); break;
            }
        }
    }

    internal sealed class IntSlice(string name, string usage) : Flag(name, usage)
    {
        public List<int> Current { get; } = [];
        public override void Set(string value)
        {
            if (!Changed)
                Current.Clear(); // first explicit use replaces the default; repeats append (pflag)
            foreach (var part in value.Split(','))
                Current.Add(ParseInt(part.Trim()));
        }
        public override string DefaultText => "[]";
        public override string ValueText => "[" + string.Join(",", Current) + "]";
        public override void WriteJson(Utf8JsonWriter writer)
        {
            writer.WriteStartArray();
            foreach (var v in Current)
                writer.WriteNumberValue(v);
            writer.WriteEndArray();
        }
    }

    public Value<string> String(string name, string defaultValue, string usage, string? deprecated = null) =>
        Add(new Value<string>(name, defaultValue, usage, v => v, v => v) { Deprecated = deprecated });

    /// <summary>A string flag whose value must pass <paramref name="valid"/> (else a usage error, as Go's flag.Value.Set).</summary>
    public Value<string> Choice(string name, string defaultValue, string usage, Func<string, bool> valid, string invalidMessage) =>
        Add(new Value<string>(name, defaultValue, usage, v => valid(v) ? v : throw new FormatException(invalidMessage), v => v));

    public Value<int> Int(string name, int defaultValue, string usage, string? deprecated = null) =>
        Add(new Value<int>(name, defaultValue, usage, ParseInt, v => v.ToString(CultureInfo.InvariantCulture)) { Deprecated = deprecated });

    public Value<long> Long(string name, long defaultValue, string usage) =>
        Add(new Value<long>(name, defaultValue, usage, ParseLong, v => v.ToString(CultureInfo.InvariantCulture)));

    public Value<bool> Bool(string name, bool defaultValue, string usage, string? deprecated = null) =>
        Add(new Value<bool>(name, defaultValue, usage, ParseBool, v => v ? "true" : "false") { Deprecated = deprecated });

    public Value<TimeSpan> Duration(string name, TimeSpan defaultValue, string usage) =>
        Add(new Value<TimeSpan>(name, defaultValue, usage, GoDuration.Parse, GoDuration.Format));

    public IntSlice Ints(string name, string usage) => Add(new IntSlice(name, usage));

    private TFlag Add<TFlag>(TFlag flag) where TFlag : Flag
    {
        _flags.Add(flag.Name, flag);
        _ordered.Add(flag);
        return flag;
    }

    public IReadOnlyList<Flag> All => _ordered;

    /// <summary>Parses <paramref name="args"/>; returns positional arguments. Throws <see cref="FlagException"/>.</summary>
    public List<string> Parse(IReadOnlyList<string> args, Action<string>? warn = null)
    {
        var positional = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg == "--")
            {
                for (i++; i < args.Count; i++)
                    positional.Add(args[i]);
                break;
            }
            if (arg.Length < 2 || arg[0] != '-' || arg == "-")
            {
                positional.Add(arg);
                continue;
            }
            string body = arg.StartsWith("--", StringComparison.Ordinal) ? arg[2..] : arg[1..];
            if (body.Length == 0 || body[0] == '-' || body[0] == '=')
                throw new FlagException($"bad flag syntax: {arg}");
            int eq = body.IndexOf('=');
            string name = eq >= 0 ? body[..eq] : body;
            if (name is "h" or "help")
                throw new HelpRequestedException();
            if (!_flags.TryGetValue(name, out var flag))
                throw new FlagException(arg.StartsWith("--", StringComparison.Ordinal) || name.Length > 1
                    ? $"unknown flag: --{name}"
                    : $"unknown shorthand flag: '{name}' in {arg}");
            string value;
            if (eq >= 0)
                value = body[(eq + 1)..];
            else if (flag.IsBool)
                value = "true";
            else if (i + 1 < args.Count)
                value = args[++i];
            else
                throw new FlagException($"flag needs an argument: --{name}");
            try
            {
                flag.Set(value);
            }
            catch (FormatException e)
            {
                throw new FlagException($"invalid argument \"{value}\" for \"--{name}\" flag: {e.Message}");
            }
            flag.Changed = true;
            if (flag.Deprecated is not null)
                warn?.Invoke($"Flag --{name} has been deprecated, {flag.Deprecated}");
        }
        return positional;
    }

    public string Usage(string program)
    {
        var sb = new StringBuilder();
        sb.Append("Usage of ").Append(program).AppendLine(":");
        foreach (var f in _ordered)
        {
            sb.Append("      --").Append(f.Name);
            sb.Append("    ").Append(f.Usage);
            if (f.DefaultText is not ("" or "[]" or "false" or "0"))
                sb.Append(" (default ").Append(f.DefaultText).Append(')');
            if (f.Deprecated is not null)
                sb.Append(" (DEPRECATED: ").Append(f.Deprecated).Append(')');
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static int ParseInt(string s) =>
        int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
            ? v : throw new FormatException("strconv.ParseInt: parsing \"" + s + "\": invalid syntax");

    private static long ParseLong(string s) =>
        long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
            ? v : throw new FormatException("strconv.ParseInt: parsing \"" + s + "\": invalid syntax");

    // Go strconv.ParseBool.
    private static bool ParseBool(string s) => s switch
    {
        "1" or "t" or "T" or "true" or "TRUE" or "True" => true,
        "0" or "f" or "F" or "false" or "FALSE" or "False" => false,
        _ => throw new FormatException("strconv.ParseBool: parsing \"" + s + "\": invalid syntax"),
    };
}

internal sealed class FlagException(string message) : Exception(message);

internal sealed class HelpRequestedException() : Exception("help requested");
