using System.Globalization;
using FastEpp.Hosting;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Configuration;

/// <summary>
/// A plugin's <c>parameters</c> as Go's non-strict json.Unmarshal into the plugin's struct sees them:
/// keys match case-insensitively (last wins), unknown keys are ignored, absent keys keep the default,
/// explicit values (zero included) override, a wrong JSON type is an error
/// (<c>json: cannot unmarshal string into Go struct field .x of type int</c>). YAML scalars are typed the
/// way sigs.k8s.io/yaml converts them to JSON: quoted → string, plain → null/bool/number/string.
/// </summary>
internal sealed class PluginParameters
{
    public static readonly PluginParameters None = new(null);

    private readonly YamlMappingNode? _map;

    public PluginParameters(YamlMappingNode? map) => _map = map;

    /// <summary>True when the config had a non-null <c>parameters</c> value.</summary>
    public bool IsPresent => _map is not null;

    public YamlMappingNode? Map => _map;

    /// <summary>The value of <paramref name="key"/> (case-insensitive, last wins); null when absent or JSON null.</summary>
    public YamlNode? Get(string key)
    {
        if (_map is null)
            return null;
        YamlNode? found = null;
        foreach (var (k, v) in _map.Children)
        {
            if (k is YamlScalarNode s && string.Equals(s.Value, key, StringComparison.OrdinalIgnoreCase))
                found = v;
        }
        return found is null || YamlValues.IsNull(found) ? null : found;
    }

    public int GetInt(string key, int defaultValue) => (int)GetInteger(key, defaultValue, int.MinValue, int.MaxValue, "int");

    public long GetLong(string key, long defaultValue) => GetInteger(key, defaultValue, long.MinValue, long.MaxValue, "int64");

    public double GetDouble(string key, double defaultValue)
    {
        YamlNode? node = Get(key);
        if (node is null)
            return defaultValue;
        if (YamlValues.TryNumber(node, out double d))
            return d;
        throw TypeError(node, key, "float64");
    }

    public bool GetBool(string key, bool defaultValue)
    {
        YamlNode? node = Get(key);
        if (node is null)
            return defaultValue;
        if (YamlValues.TryBool(node, out bool b))
            return b;
        throw TypeError(node, key, "bool");
    }

    public string GetString(string key, string defaultValue)
    {
        YamlNode? node = Get(key);
        if (node is null)
            return defaultValue;
        if (YamlValues.TryString(node, out string s))
            return s;
        throw TypeError(node, key, "string");
    }

    /// <summary>A Go duration string (<c>200ms</c>); a JSON number is taken as nanoseconds (time.Duration's JSON form).</summary>
    public TimeSpan GetDuration(string key, TimeSpan defaultValue)
    {
        YamlNode? node = Get(key);
        if (node is null)
            return defaultValue;
        if (YamlValues.TryString(node, out string s))
        {
            if (GoDuration.TryParse(s, out TimeSpan value))
                return value;
            throw new ConfigException($"time: invalid duration \"{s}\"");
        }
        if (YamlValues.TryNumber(node, out double ns) && ns == Math.Floor(ns))
            return TimeSpan.FromTicks((long)(ns / 100));
        throw TypeError(node, key, "time.Duration");
    }

    private long GetInteger(string key, long defaultValue, long min, long max, string goType)
    {
        YamlNode? node = Get(key);
        if (node is null)
            return defaultValue;
        if (node is YamlScalarNode scalar && YamlValues.IsPlainNumber(scalar))
        {
            string text = scalar.Value!;
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l) && l >= min && l <= max)
                return l;
            throw new ConfigException($"json: cannot unmarshal number {text} into Go struct field .{key} of type {goType}");
        }
        throw TypeError(node, key, goType);
    }

    private static ConfigException TypeError(YamlNode node, string key, string goType) =>
        new($"json: cannot unmarshal {YamlValues.JsonKind(node)} into Go struct field .{key} of type {goType}");
}
