using FastEpp.Body;
using FastEpp.Configuration;
using FastEpp.Requests.Cel;
using FastEpp.Scheduling;
using Google.Protobuf.WellKnownTypes;
using YamlDotNet.RepresentationModel;

namespace FastEpp.Requests;

/// <summary>
/// <c>request-attribute-reporter</c> (spec scheduling.md §2.10, runtime.md §5.4): when the response completes, a
/// CEL <c>expression</c> over <c>usage</c> (the response usage as a google.protobuf.Struct:
/// <c>prompt_tokens</c>, <c>completion_tokens</c>, <c>total_tokens</c>, <c>prompt_token_details.cached_tokens</c>
/// when the server reported it; numbers are doubles) is written, truncated to an integer, into the response's
/// dynamic metadata under <c>key.namespace</c> (default <c>envoy.lb</c>) / <c>key.name</c>, e.g. a request cost for
/// rate limiting. An optional CEL <c>condition</c> must yield true. Nothing is written when the condition is not
/// true, the expression fails or is not a number, or the value is 0. Expressions are compiled once, at config load
/// (<see cref="CelExpression"/>, a subset of CEL); a bad one fails start-up with its position.
/// </summary>
internal sealed class RequestAttributeReporter : Plugin
{
    public const string DefaultNamespace = "envoy.lb";

    /// <summary>Its EndpointPickerConfig type and how the loader builds one.</summary>
    public static readonly PluginType Type = new("request-attribute-reporter", static (n, p, _) => Create(n, p));

    private RequestAttributeReporter(string name, string ns, string key, CelExpression expression, CelExpression? condition) : base(name)
    {
        Namespace = ns;
        Key = key;
        Expression = expression;
        Condition = condition;
    }

    public override string TypeName => Type.Name;

    public string Namespace { get; }
    public string Key { get; }
    public CelExpression Expression { get; }
    public CelExpression? Condition { get; }

    private static RequestAttributeReporter Create(string name, PluginParameters p)
    {
        YamlNode? attributes = p.Get("attributes");
        if (attributes is not null and not YamlSequenceNode)
            throw new ConfigException("failed to unmarshal config: json: cannot unmarshal " + YamlValues.JsonKind(attributes) + " into Go struct field Config.attributes of type []requestattributereporter.Attribute");
        var list = attributes as YamlSequenceNode;
        if (list is null || list.Children.Count != 1)
            throw new ConfigException("attributes must contain exactly one entry");
        if (list.Children[0] is not YamlMappingNode entryMap)
            throw new ConfigException("failed to unmarshal config: json: cannot unmarshal " + YamlValues.JsonKind(list.Children[0]) + " into Go value of type requestattributereporter.Attribute");
        var entry = new PluginParameters(entryMap);
        YamlNode? keyNode = entry.Get("key");
        if (keyNode is not null and not YamlMappingNode)
            throw new ConfigException("failed to unmarshal config: json: cannot unmarshal " + YamlValues.JsonKind(keyNode) + " into Go struct field Attribute.attributes.key of type requestattributereporter.AttributeKey");
        var key = new PluginParameters(keyNode as YamlMappingNode);
        string attributeName = key.GetString("name", "");
        if (attributeName.Length == 0)
            throw new ConfigException("attributeKey.name cannot be empty");
        string expressionText = entry.GetString("expression", "");
        if (expressionText.Length == 0)
            throw new ConfigException("attributes[0].expression cannot be empty");
        string ns = key.GetString("namespace", "");
        if (ns.Length == 0)
            ns = DefaultNamespace;
        string conditionText = entry.GetString("condition", "");

        CelExpression expression;
        CelExpression? condition = null;
        try
        {
            expression = CelExpression.Compile(expressionText);
        }
        catch (CelCompileException e)
        {
            throw new ConfigException("failed to compile expression: " + e.Message);
        }
        if (conditionText.Length > 0)
        {
            try
            {
                condition = CelExpression.Compile(conditionText);
            }
            catch (CelCompileException e)
            {
                throw new ConfigException("failed to compile condition: " + e.Message);
            }
        }
        return new RequestAttributeReporter(name, ns, attributeName, expression, condition);
    }

    /// <summary>The value to report for <paramref name="usage"/>, or false when nothing is written.</summary>
    public bool TryEvaluate(in Usage usage, out long value)
    {
        value = 0;
        if (Condition is not null)
        {
            var c = Condition.Evaluate(usage);
            if (c.Kind != CelKind.Bool || !c.Bool)
                return false;
        }
        var v = Expression.Evaluate(usage);
        switch (v.Kind)
        {
            case CelKind.Int:
                value = v.Int;
                break;
            case CelKind.Double:
                if (double.IsNaN(v.Double) || v.Double >= 9.2233720368547758E+18 || v.Double < -9.2233720368547758E+18)
                    return false;
                value = (long)v.Double; // truncated, as Go's int64(float64)
                break;
            default:
                return false; // the reference: "Expression result could not be converted to float64 or int64"
        }
        return value != 0;
    }

    /// <summary>The response's dynamic metadata from every reporter (namespaces merged); null when none writes.</summary>
    public static Struct? Report(RequestAttributeReporter[] reporters, in Usage usage)
    {
        Struct? metadata = null;
        foreach (var reporter in reporters)
        {
            if (!reporter.TryEvaluate(usage, out long value))
                continue;
            metadata ??= new Struct();
            if (!metadata.Fields.TryGetValue(reporter.Namespace, out Value? ns) || ns.KindCase != Value.KindOneofCase.StructValue)
                metadata.Fields[reporter.Namespace] = ns = Value.ForStruct(new Struct());
            ns.StructValue.Fields[reporter.Key] = Value.ForNumber(value);
        }
        return metadata;
    }
}
