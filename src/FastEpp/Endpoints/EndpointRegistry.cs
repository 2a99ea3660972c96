namespace FastEpp.Endpoints;

/// <summary>
/// Holds the current <see cref="EndpointSnapshot"/>. Readers call <see cref="Current"/> once per
/// request (a volatile read, never a lock). Writers — endpoint sources — call <see cref="Publish"/>,
/// which is serialised so versions stay monotonic; endpoints whose name survives a publish keep
/// their <see cref="EndpointState"/>.
/// </summary>
public sealed class EndpointRegistry
{
    private readonly Lock _writeLock = new();
    private EndpointSnapshot _current = EndpointSnapshot.Empty;

    public EndpointSnapshot Current => Volatile.Read(ref _current);

    /// <summary>Raised after every publish, on the publishing thread (the poller listens).</summary>
    public event Action<EndpointSnapshot>? Changed;

    /// <summary>
    /// Publishes a new endpoint set. Endpoints are matched by <see cref="Endpoint.Name"/>: an
    /// endpoint already known with the same address and port is kept as-is (same object, same state);
    /// with other labels or another metrics port it is replaced but keeps its state.
    /// <paramref name="synced"/> is false only when the source lost its pool (InferencePool deleted).
    /// </summary>
    public EndpointSnapshot Publish(IReadOnlyList<Endpoint> endpoints, bool synced = true)
    {
        EndpointSnapshot next;
        lock (_writeLock)
        {
            var previous = _current;
            var byName = new Dictionary<string, Endpoint>(previous.Count, StringComparer.Ordinal);
            foreach (var e in previous.Endpoints)
                byName[e.Name] = e;

            var result = new Endpoint[endpoints.Count];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            int n = 0;
            foreach (var e in endpoints)
            {
                if (!seen.Add(e.Name))
                    continue; // a duplicate name would make two endpoints share one identity
                if (byName.TryGetValue(e.Name, out var old) && old.Address == e.Address && old.Port == e.Port)
                    result[n++] = LabelsEqual(old.Labels, e.Labels) && old.MetricsPort == e.MetricsPort ? old : e.WithState(old.State);
                else
                    result[n++] = e;
            }
            if (n != result.Length)
                Array.Resize(ref result, n);
            next = new EndpointSnapshot(result, previous.Version + 1, synced);
            Volatile.Write(ref _current, next);
        }
        Changed?.Invoke(next);
        return next;
    }

    /// <summary>Same keys with the same values (the pod watch and the registry both compare label sets).</summary>
    internal static bool LabelsEqual(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        if (ReferenceEquals(a, b))
            return true;
        if (a.Count != b.Count)
            return false;
        foreach (var (k, v) in a)
            if (!b.TryGetValue(k, out var other) || other != v)
                return false;
        return true;
    }
}
