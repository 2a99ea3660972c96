using FastEpp.Endpoints;
using FastEpp.Scheduling;

namespace FastEpp.Admission;

/// <summary>
/// The saturation detector over the whole pool (flow control's view, spec runtime.md §4.5): every endpoint
/// of the current snapshot is a candidate. Called by the dispatcher only (one thread at a time).
/// </summary>
internal sealed class PoolSaturation(EndpointRegistry registry, ISaturationDetector detector)
{
    private EndpointSnapshot? _seen;
    private int[] _all = [];

    public double Current()
    {
        var snapshot = registry.Current;
        if (!ReferenceEquals(snapshot, _seen))
        {
            _all = new int[snapshot.Count];
            for (int i = 0; i < _all.Length; i++)
                _all[i] = i;
            _seen = snapshot;
        }
        return detector.Saturation(snapshot, _all);
    }
}
