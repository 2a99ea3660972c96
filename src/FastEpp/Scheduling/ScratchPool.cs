namespace FastEpp.Scheduling;

/// <summary>
/// A small lock-free pool of <see cref="RequestScratch"/> (the shape of ObjectPool's DefaultObjectPool:
/// a fixed slot array claimed with CompareExchange). Envoy opens one ext_proc stream per HTTP request,
/// so a per-stream scratch alone would be a per-request allocation; the scheduler rents one per
/// decision and returns it at ResponseComplete. A scratch that is never returned is simply collected.
/// </summary>
internal sealed class ScratchPool
{
    private readonly RequestScratch?[] _slots;

    public ScratchPool(int size = 256) => _slots = new RequestScratch?[Math.Max(1, size)];

    public RequestScratch Rent()
    {
        RequestScratch?[] slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            RequestScratch? item = Volatile.Read(ref slots[i]);
            if (item is not null && Interlocked.CompareExchange(ref slots[i], null, item) == item)
                return item;
        }
        return new RequestScratch();
    }

    public void Return(RequestScratch scratch)
    {
        RequestScratch?[] slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            if (Volatile.Read(ref slots[i]) is null && Interlocked.CompareExchange(ref slots[i], scratch, null) is null)
                return;
        }
    }
}
