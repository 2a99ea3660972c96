namespace FastEpp.Kubernetes;

/// <summary>
/// Matches <c>spec.poolRef</c> of InferenceObjective / InferenceModelRewrite against the served pool
/// (spec runtime.md §2.4): name equal to the pool name and group equal to <c>--pool-group</c>. A
/// missing group takes the CRD default (the API server fills it in on real clusters).
/// </summary>
internal readonly record struct PoolReference(string Name, string Group)
{
    public const string DefaultGroup = "inference.networking.k8s.io";

    public bool Matches(PoolObjectReference? poolRef) =>
        poolRef is not null
        && poolRef.Name == Name
        && (string.IsNullOrEmpty(poolRef.Group) ? DefaultGroup : poolRef.Group) == Group;
}
