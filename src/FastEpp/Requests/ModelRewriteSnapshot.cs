using System.Collections.Frozen;
using FastEpp.Kubernetes;

namespace FastEpp.Requests;

/// <summary>One weighted target of a rewrite rule.</summary>
internal sealed record ModelRewriteTarget(string Model, int Weight);

/// <summary>
/// One rule of an InferenceModelRewrite, flattened with the ordering keys the reference sorts by
/// (parent creationTimestamp, then our deterministic tie-breaks: object name, rule index).
/// </summary>
internal sealed record ModelRewriteRule(string ObjectName, DateTimeOffset Created, int RuleIndex, string[] Models, ModelRewriteTarget[] Targets)
{
    /// <summary>A target at random by weight (negative weights count as 0; all zero: uniform). Needs at least one target.</summary>
    public string PickTarget()
    {
        long total = 0;
        foreach (var t in Targets)
            total += Math.Max(0, t.Weight);
        if (total == 0)
            return Targets[Random.Shared.Next(Targets.Length)].Model;
        long pick = Random.Shared.NextInt64(total);
        foreach (var t in Targets)
        {
            pick -= Math.Max(0, t.Weight);
            if (pick < 0)
                return t.Model;
        }
        return Targets[^1].Model;
    }
}

/// <summary>
/// Immutable rewrite rule set (spec runtime.md §2.5): rules with exact matches indexed by model,
/// rules without matches in a generic list, both oldest first. Built by <see cref="ModelRewriteStore"/>
/// and swapped whole; readers never lock. Weighted target selection: <see cref="ModelRewriteRule.PickTarget"/>.
/// </summary>
internal sealed class ModelRewriteSnapshot
{
    public static readonly ModelRewriteSnapshot Empty = new(FrozenDictionary<string, ModelRewriteRule[]>.Empty, []);

    public ModelRewriteSnapshot(FrozenDictionary<string, ModelRewriteRule[]> byModel, ModelRewriteRule[] generic)
    {
        ByModel = byModel;
        Generic = generic;
    }

    /// <summary>Exact-match rules per model value, oldest first.</summary>
    public FrozenDictionary<string, ModelRewriteRule[]> ByModel { get; }

    /// <summary>Rules with no matches (match every model), oldest first.</summary>
    public ModelRewriteRule[] Generic { get; }

    public bool IsEmpty => ByModel.Count == 0 && Generic.Length == 0;

    /// <summary>The rule that applies to <paramref name="model"/>: oldest exact match, else oldest generic, else null.</summary>
    public ModelRewriteRule? FindRule(string model)
    {
        if (ByModel.TryGetValue(model, out var exact))
            return exact[0];
        return Generic.Length > 0 ? Generic[0] : null;
    }

    public static ModelRewriteSnapshot Build(IEnumerable<InferenceModelRewrite> objects, PoolReference pool)
    {
        var byModel = new Dictionary<string, List<ModelRewriteRule>>(StringComparer.Ordinal);
        var generic = new List<ModelRewriteRule>();
        foreach (var obj in objects)
        {
            if (obj.Metadata.DeletionTimestamp is not null || !pool.Matches(obj.Spec?.PoolRef) || obj.Spec!.Rules is not { } rules)
                continue;
            var created = obj.Metadata.CreationTimestamp ?? DateTimeOffset.MinValue;
            for (int i = 0; i < rules.Count; i++)
            {
                var models = new List<string>();
                if (rules[i].Matches is { } matches)
                    foreach (var m in matches)
                        if (m.Model?.Value is { Length: > 0 } value && (m.Model.Type is null or "" or "Exact"))
                            models.Add(value);
                var targets = new List<ModelRewriteTarget>();
                if (rules[i].Targets is { } ts)
                    foreach (var t in ts)
                        if (!string.IsNullOrEmpty(t.ModelRewrite))
                            targets.Add(new ModelRewriteTarget(t.ModelRewrite, t.Weight));
                var rule = new ModelRewriteRule(obj.Metadata.Name, created, i, models.ToArray(), targets.ToArray());
                bool hadMatches = rules[i].Matches is { Count: > 0 };
                if (!hadMatches)
                {
                    generic.Add(rule);
                    continue;
                }
                foreach (string model in rule.Models)
                {
                    if (!byModel.TryGetValue(model, out var list))
                        byModel[model] = list = new List<ModelRewriteRule>();
                    list.Add(rule);
                }
            }
        }
        Comparison<ModelRewriteRule> order = static (a, b) =>
        {
            int c = a.Created.CompareTo(b.Created);
            if (c == 0)
                c = string.CompareOrdinal(a.ObjectName, b.ObjectName);
            return c != 0 ? c : a.RuleIndex.CompareTo(b.RuleIndex);
        };
        var frozen = new Dictionary<string, ModelRewriteRule[]>(byModel.Count, StringComparer.Ordinal);
        foreach (var (model, list) in byModel)
        {
            list.Sort(order);
            frozen[model] = list.ToArray();
        }
        generic.Sort(order);
        return new ModelRewriteSnapshot(frozen.ToFrozenDictionary(StringComparer.Ordinal), generic.ToArray());
    }
}
