using System.Globalization;
using FastEpp.Hosting;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Configuration;

/// <summary>
/// Strict decoding of an EndpointPickerConfig document (YAML or JSON — JSON is parsed as YAML flow
/// style) with YamlDotNet's representation model (no reflection, AOT-safe). As the Kubernetes strict
/// decoder: unknown fields and duplicate keys in the typed part are errors, wrong JSON types are
/// errors, a different apiVersion/kind is an error, absent apiVersion/kind are accepted. Every error
/// reads <c>failed to decode configuration JSON/YAML: ...</c>.
/// </summary>
internal static class ConfigDecoder
{
    private const string Prefix = "failed to decode configuration JSON/YAML: ";

    public static EndpointPickerConfig Decode(string text)
    {
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            if (stream.Documents.Count == 0 || YamlValues.IsNull(stream.Documents[0].RootNode))
                return new EndpointPickerConfig();
            if (stream.Documents[0].RootNode is not YamlMappingNode map)
                throw Fail($"json: cannot unmarshal {YamlValues.JsonKind(stream.Documents[0].RootNode)} into Go value of type v1alpha1.EndpointPickerConfig");
            root = map;
        }
        catch (YamlException ex)
        {
            string message = ex.InnerException is ArgumentException ? "duplicate key: " + ex.Message : ex.Message;
            throw Fail("error converting YAML to JSON: yaml: " + message);
        }
        catch (ArgumentException ex)
        {
            throw Fail("strict decoding error: duplicate key (" + ex.Message + ")");
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet's scanner throws this on some malformed input (": {\nc", found by the fuzzer).
            throw Fail("error converting YAML to JSON: yaml: " + ex.Message);
        }

        var config = new EndpointPickerConfig();
        foreach (var (keyNode, value) in Fields(root, ""))
        {
            string key = keyNode;
            switch (key)
            {
                case "apiVersion":
                    string apiVersion = String(value, key);
                    if (apiVersion.Length != 0 && apiVersion != EndpointPickerConfig.ApiVersion)
                        throw Fail($"no kind \"EndpointPickerConfig\" is registered for version \"{apiVersion}\"");
                    break;
                case "kind":
                    string kind = String(value, key);
                    if (kind.Length != 0 && kind != EndpointPickerConfig.Kind)
                        throw Fail($"no kind \"{kind}\" is registered for version \"{EndpointPickerConfig.ApiVersion}\"");
                    break;
                case "featureGates":
                    config.FeatureGates = [];
                    foreach (YamlNode item in Sequence(value, key))
                        config.FeatureGates.Add(String(item, key));
                    break;
                case "plugins":
                    int pi = 0;
                    foreach (YamlNode item in Sequence(value, key))
                        config.Plugins.Add(DecodePlugin(item, $"plugins[{pi++}]"));
                    break;
                case "schedulingProfiles":
                    int si = 0;
                    foreach (YamlNode item in Sequence(value, key))
                        config.SchedulingProfiles.Add(DecodeProfile(item, $"schedulingProfiles[{si++}]"));
                    break;
                case "saturationDetector":
                    config.SaturationDetectorRef = "";
                    foreach (var (k, v) in Fields(value, key))
                    {
                        if (k != "pluginRef")
                            throw Unknown(key, k);
                        config.SaturationDetectorRef = String(v, k);
                    }
                    break;
                case "dataLayer":
                    config.DataLayer = [];
                    foreach (var (k, v) in Fields(value, key))
                    {
                        if (k != "sources")
                            throw Unknown(key, k);
                        int di = 0;
                        foreach (YamlNode source in Sequence(v, k))
                            config.DataLayer.Add(DecodeSource(source, $"dataLayer.sources[{di++}]"));
                    }
                    break;
                case "flowControl":
                    config.FlowControl = DecodeFlowControl(value, key);
                    break;
                case "parser":
                    config.ParserRef = "";
                    foreach (var (k, v) in Fields(value, key))
                    {
                        if (k != "pluginRef")
                            throw Unknown(key, k);
                        config.ParserRef = String(v, k);
                    }
                    break;
                default:
                    throw Unknown("", key);
            }
        }
        return config;
    }

    private static PluginSpec DecodePlugin(YamlNode node, string path)
    {
        var spec = new PluginSpec();
        foreach (var (k, v) in Fields(node, path))
        {
            switch (k)
            {
                case "name": spec.Name = String(v, k); break;
                case "type": spec.Type = String(v, k); break;
                case "parameters":
                    if (YamlValues.IsNull(v))
                        spec.Parameters = null;
                    else
                        spec.Parameters = v as YamlMappingNode ?? new YamlMappingNode(); // non-object: the factory sees a type error
                    if (v is not YamlMappingNode && !YamlValues.IsNull(v))
                        throw Fail($"json: cannot unmarshal {YamlValues.JsonKind(v)} into Go struct field {path}.parameters of type map[string]interface {{}}");
                    break;
                default: throw Unknown(path, k);
            }
        }
        return spec;
    }

    private static ProfileSpec DecodeProfile(YamlNode node, string path)
    {
        var spec = new ProfileSpec();
        foreach (var (k, v) in Fields(node, path))
        {
            switch (k)
            {
                case "name": spec.Name = String(v, k); break;
                case "plugins":
                    int i = 0;
                    foreach (YamlNode item in Sequence(v, k))
                    {
                        var r = new ProfilePluginRef();
                        string p = $"{path}.plugins[{i++}]";
                        foreach (var (rk, rv) in Fields(item, p))
                        {
                            switch (rk)
                            {
                                case "pluginRef": r.PluginRef = String(rv, rk); break;
                                case "weight": r.Weight = YamlValues.IsNull(rv) ? null : Number(rv, rk); break;
                                default: throw Unknown(p, rk);
                            }
                        }
                        spec.Plugins.Add(r);
                    }
                    break;
                default: throw Unknown(path, k);
            }
        }
        return spec;
    }

    private static DataSourceSpec DecodeSource(YamlNode node, string path)
    {
        var spec = new DataSourceSpec();
        foreach (var (k, v) in Fields(node, path))
        {
            switch (k)
            {
                case "pluginRef": spec.PluginRef = String(v, k); break;
                case "extractors":
                    int i = 0;
                    foreach (YamlNode item in Sequence(v, k))
                    {
                        string p = $"{path}.extractors[{i++}]";
                        string reference = "";
                        foreach (var (ek, ev) in Fields(item, p))
                        {
                            if (ek != "pluginRef")
                                throw Unknown(p, ek);
                            reference = String(ev, ek);
                        }
                        spec.Extractors.Add(reference);
                    }
                    break;
                default: throw Unknown(path, k);
            }
        }
        return spec;
    }

    private static FlowControlSpec DecodeFlowControl(YamlNode node, string path)
    {
        var spec = new FlowControlSpec();
        foreach (var (k, v) in Fields(node, path))
        {
            switch (k)
            {
                case "maxBytes": spec.MaxBytes = QuantityValue(v, k); break;
                case "maxRequests": spec.MaxRequests = QuantityValue(v, k); break;
                case "defaultRequestTTL": spec.DefaultRequestTtl = Duration(v, k); break;
                case "defaultPriorityBand": spec.DefaultPriorityBand = DecodeBand(v, path + "." + k); break;
                case "priorityBands":
                    int i = 0;
                    foreach (YamlNode item in Sequence(v, k))
                        spec.PriorityBands.Add(DecodeBand(item, $"{path}.priorityBands[{i++}]"));
                    break;
                case "usageLimitPolicyPluginRef": spec.UsageLimitPolicyPluginRef = String(v, k); break;
                default: throw Unknown(path, k);
            }
        }
        return spec;
    }

    private static PriorityBandSpec DecodeBand(YamlNode node, string path)
    {
        var band = new PriorityBandSpec();
        foreach (var (k, v) in Fields(node, path))
        {
            switch (k)
            {
                case "priority":
                    double p = Number(v, k);
                    if (p != Math.Floor(p) || p is < int.MinValue or > int.MaxValue)
                        throw Fail($"json: cannot unmarshal number {Scalar(v)} into Go struct field PriorityBandConfig.{path}.priority of type int");
                    band.Priority = (int)p;
                    break;
                case "maxBytes": band.MaxBytes = QuantityValue(v, k); break;
                case "maxRequests": band.MaxRequests = QuantityValue(v, k); break;
                case "fairnessPolicyRef": band.FairnessPolicyRef = String(v, k); break;
                case "orderingPolicyRef": band.OrderingPolicyRef = String(v, k); break;
                default: throw Unknown(path, k);
            }
        }
        return band;
    }

    // ---- helpers

    /// <summary>Fields of a mapping with duplicate-key detection; a null node has no fields.</summary>
    private static IEnumerable<(string Key, YamlNode Value)> Fields(YamlNode node, string path)
    {
        if (YamlValues.IsNull(node))
            yield break;
        if (node is not YamlMappingNode map)
            throw Fail($"json: cannot unmarshal {YamlValues.JsonKind(node)} into Go struct field {Label(path)} of type object");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Children)
        {
            string key = k is YamlScalarNode s ? s.Value ?? "" : k.ToString();
            if (!seen.Add(key))
                throw Fail($"strict decoding error: duplicate field \"{Join(path, key)}\"");
            yield return (key, v);
        }
    }

    private static IEnumerable<YamlNode> Sequence(YamlNode node, string key)
    {
        if (YamlValues.IsNull(node))
            return [];
        if (node is not YamlSequenceNode seq)
            throw Fail($"json: cannot unmarshal {YamlValues.JsonKind(node)} into Go struct field .{key} of type array");
        return seq.Children;
    }

    private static string String(YamlNode node, string key)
    {
        if (YamlValues.IsNull(node))
            return "";
        if (YamlValues.TryString(node, out string s))
            return s;
        throw Fail($"json: cannot unmarshal {YamlValues.JsonKind(node)} into Go struct field .{key} of type string");
    }

    private static double Number(YamlNode node, string key)
    {
        if (YamlValues.TryNumber(node, out double d))
            return d;
        throw Fail($"json: cannot unmarshal {YamlValues.JsonKind(node)} into Go struct field .{key} of type float64");
    }

    private static long QuantityValue(YamlNode node, string key)
    {
        if (YamlValues.IsNull(node))
            return 0;
        string text = Scalar(node);
        if (node is YamlScalarNode && Quantity.TryParse(text, out long value))
            return value;
        throw Fail($"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (field {key}: \"{text}\")");
    }

    private static TimeSpan Duration(YamlNode node, string key)
    {
        if (YamlValues.IsNull(node))
            return TimeSpan.Zero;
        if (YamlValues.TryString(node, out string s))
        {
            if (GoDuration.TryParse(s, out TimeSpan d))
                return d;
            throw Fail($"time: invalid duration \"{s}\"");
        }
        if (YamlValues.TryNumber(node, out double ns) && ns == Math.Floor(ns))
            return TimeSpan.FromTicks((long)(ns / 100));
        throw Fail($"json: cannot unmarshal {YamlValues.JsonKind(node)} into Go struct field .{key} of type v1.Duration");
    }

    private static string Scalar(YamlNode node) => node is YamlScalarNode s ? s.Value ?? "" : node.ToString();

    private static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

    private static string Label(string path) => path.Length == 0 ? "EndpointPickerConfig" : path;

    private static ConfigException Unknown(string path, string key) =>
        Fail($"strict decoding error: unknown field \"{Join(path, key)}\"");

    private static ConfigException Fail(string message) => new(Prefix + message);

    internal static string Invariant(double d) => d.ToString(CultureInfo.InvariantCulture);
}
