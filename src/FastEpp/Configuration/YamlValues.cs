using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Configuration;

/// <summary>How a YAML node reads as JSON (sigs.k8s.io/yaml: YAML → JSON, then encoding/json).</summary>
internal static class YamlValues
{
    public static bool IsPlain(YamlScalarNode s) => s.Style is ScalarStyle.Plain or ScalarStyle.Any;

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode s && IsPlain(s) && s.Value is null or "" or "~" or "null" or "Null" or "NULL";

    public static bool TryBool(YamlNode node, out bool value)
    {
        value = false;
        if (node is not YamlScalarNode s || !IsPlain(s))
            return false;
        switch (s.Value)
        {
            case "true" or "True" or "TRUE" or "yes" or "Yes" or "YES" or "on" or "On" or "ON" or "y" or "Y":
                value = true;
                return true;
            case "false" or "False" or "FALSE" or "no" or "No" or "NO" or "off" or "Off" or "OFF" or "n" or "N":
                return true;
            default:
                return false;
        }
    }

    public static bool IsPlainNumber(YamlScalarNode s) =>
        IsPlain(s) && s.Value is { Length: > 0 } v && !TryBool(s, out _) &&
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d);

    public static bool TryNumber(YamlNode node, out double value)
    {
        value = 0;
        return node is YamlScalarNode s && IsPlainNumber(s) &&
            double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>A JSON string: a quoted scalar, or a plain scalar that is not null/bool/number.</summary>
    public static bool TryString(YamlNode node, out string value)
    {
        value = "";
        if (node is not YamlScalarNode s)
            return false;
        if (!IsPlain(s))
        {
            value = s.Value ?? "";
            return true;
        }
        if (IsNull(s) || TryBool(s, out _) || IsPlainNumber(s))
            return false;
        value = s.Value ?? "";
        return true;
    }

    public static string JsonKind(YamlNode node) => node switch
    {
        YamlMappingNode => "object",
        YamlSequenceNode => "array",
        YamlScalarNode s when IsNull(s) => "null",
        YamlScalarNode s when TryBool(s, out _) => "bool",
        YamlScalarNode s when IsPlainNumber(s) => "number",
        _ => "string",
    };
}
