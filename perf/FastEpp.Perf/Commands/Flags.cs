using System.Globalization;

namespace FastEpp.Perf.Commands;

/// <summary>Minimal <c>--name value</c> / <c>--name=value</c> parser; repeated flags keep every value.</summary>
internal sealed class Flags
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private Flags()
    {
    }

    public static Flags? Parse(ReadOnlySpan<string> args, out string? error)
    {
        var f = new Flags();
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
            {
                error = "unexpected argument '" + a + "'";
                return null;
            }
            string name, value;
            int eq = a.IndexOf('=');
            if (eq > 0)
            {
                name = a[2..eq];
                value = a[(eq + 1)..];
            }
            else if (i + 1 < args.Length)
            {
                name = a[2..];
                value = args[++i];
            }
            else
            {
                error = "flag " + a + " needs a value";
                return null;
            }
            if (!f._values.TryGetValue(name, out List<string>? list))
                f._values[name] = list = new List<string>();
            list.Add(value);
        }
        return f;
    }

    public string String(string name, string fallback)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out List<string>? v) ? v[^1] : fallback;
    }

    public List<string> All(string name)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out List<string>? v) ? v : new List<string>();
    }

    public double Double(string name, double fallback)
    {
        string s = String(name, "");
        if (s.Length == 0)
            return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d) || d <= 0)
            throw new FormatException("--" + name + " must be a positive number, not '" + s + "'");
        return d;
    }

    /// <summary>A number within [0, 1]; <paramref name="fallback"/> when absent.</summary>
    public double Fraction(string name, double fallback)
    {
        string s = String(name, "");
        if (s.Length == 0)
            return fallback;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !(d >= 0 && d <= 1))
            throw new FormatException("--" + name + " must be a number within 0..1, not '" + s + "'");
        return d;
    }

    public int Int(string name, int fallback)
    {
        string s = String(name, "");
        if (s.Length == 0)
            return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
            throw new FormatException("--" + name + " must be an integer, not '" + s + "'");
        return v;
    }

    /// <summary>Flags given but never read: typos.</summary>
    public string? Unknown()
    {
        foreach (string k in _values.Keys)
        {
            if (!_used.Contains(k))
                return "unknown flag --" + k;
        }
        return null;
    }
}
