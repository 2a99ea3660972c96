namespace FastEpp.Sim.Engine;

/// <summary>
/// The GPU's LoRA adapter slots (vLLM <c>--max-loras</c>). An adapter is resident in a slot; running requests pin
/// it. A request for a non-resident adapter can start only when a slot is empty or holds an unpinned adapter (the
/// least recently used one is evicted); the step that first uses a loaded adapter pays the load time, as vLLM
/// loads adapters synchronously before running the batch. Otherwise the request waits (and is reported in
/// waiting_lora_adapters). Single-threaded (engine only).
/// </summary>
internal sealed class LoraSlots
{
    private readonly int[] _adapter;
    private readonly int[] _pins;
    private readonly double[] _lastUsed;

    /// <summary>Creates <paramref name="maxLoras"/> empty slots.</summary>
    public LoraSlots(int maxLoras)
    {
        _adapter = new int[Math.Max(0, maxLoras)];
        _pins = new int[_adapter.Length];
        _lastUsed = new double[_adapter.Length];
        Array.Fill(_adapter, -1);
    }

    /// <summary>Slot count.</summary>
    public int MaxLoras => _adapter.Length;

    /// <summary>Adapter loads done so far.</summary>
    public long Loads { get; private set; }

    /// <summary>Slots pinned by running requests.</summary>
    public int PinnedSlots
    {
        get
        {
            int n = 0;
            foreach (int p in _pins)
            {
                if (p > 0)
                {
                    n++;
                }
            }
            return n;
        }
    }

    /// <summary>True when <paramref name="adapter"/> is resident.</summary>
    public bool IsResident(int adapter) => Array.IndexOf(_adapter, adapter) >= 0;

    /// <summary>
    /// Pins <paramref name="adapter"/> for a request starting at <paramref name="now"/>; loads it into a free or
    /// evictable slot when needed (<paramref name="loaded"/> = true). False when every slot is pinned by others.
    /// </summary>
    public bool TryPin(int adapter, double now, out bool loaded)
    {
        loaded = false;
        int slot = Array.IndexOf(_adapter, adapter);
        if (slot < 0)
        {
            slot = FindVictim();
            if (slot < 0)
            {
                return false;
            }
            _adapter[slot] = adapter;
            loaded = true;
            Loads++;
        }
        _pins[slot]++;
        _lastUsed[slot] = now;
        return true;
    }

    /// <summary>Releases one pin of <paramref name="adapter"/> (request finished, aborted or preempted).</summary>
    public void Unpin(int adapter, double now)
    {
        int slot = Array.IndexOf(_adapter, adapter);
        if (slot >= 0 && _pins[slot] > 0)
        {
            _pins[slot]--;
            _lastUsed[slot] = now;
        }
    }

    private int FindVictim()
    {
        int best = -1;
        for (int i = 0; i < _adapter.Length; i++)
        {
            if (_adapter[i] < 0)
            {
                return i;
            }
            if (_pins[i] == 0 && (best < 0 || _lastUsed[i] < _lastUsed[best]))
            {
                best = i;
            }
        }
        return best;
    }
}
