using System.Numerics;
using System.Runtime.CompilerServices;

namespace FastEpp.Prefix;

/// <summary>
/// Immutable snapshot of the endpoints known to a <see cref="PrefixIndex"/>: id → <see cref="EndpointLru"/>
/// for writers and a flat id → slot map for readers. Rebuilt and swapped whole (under the index's registry
/// lock) when an endpoint is added or removed, which is rare; never mutated after publication.
/// </summary>
internal sealed class EndpointDirectory
{
    public static readonly EndpointDirectory Empty = new(new Dictionary<int, EndpointLru>());

    private readonly Dictionary<int, EndpointLru> _byId;
    private readonly int[] _ids;     // open addressing, parallel to _slots
    private readonly int[] _slots;   // slot + 1; 0 = empty
    private readonly int _mask;

    private EndpointDirectory(Dictionary<int, EndpointLru> byId)
    {
        _byId = byId;
        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, byId.Count * 2));
        _ids = new int[capacity];
        _slots = new int[capacity];
        _mask = capacity - 1;
        int slotCount = 0;
        foreach (EndpointLru endpoint in byId.Values)
        {
            int i = Home(endpoint.Id, _mask);
            while (_slots[i] != 0)
                i = (i + 1) & _mask;
            _ids[i] = endpoint.Id;
            _slots[i] = endpoint.Slot + 1;
            slotCount = Math.Max(slotCount, endpoint.Slot + 1);
        }
        SlotCount = slotCount;
    }

    /// <summary>One more than the highest slot in use: the length of a reader's per-slot count scratch.</summary>
    public int SlotCount { get; }

    public int Count => _byId.Count;

    public Dictionary<int, EndpointLru>.ValueCollection Endpoints => _byId.Values;

    public bool TryGet(int id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EndpointLru? endpoint) =>
        _byId.TryGetValue(id, out endpoint);

    /// <summary>Slot of <paramref name="id"/>, or -1 when the endpoint is not in the index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SlotOf(int id)
    {
        int[] ids = _ids;
        int[] slots = _slots;
        int i = Home(id, _mask);
        while (true)
        {
            int slot = slots[i];
            if (slot == 0)
                return -1;
            if (ids[i] == id)
                return slot - 1;
            i = (i + 1) & _mask;
        }
    }

    public EndpointDirectory With(EndpointLru endpoint) =>
        new(new Dictionary<int, EndpointLru>(_byId) { [endpoint.Id] = endpoint });

    public EndpointDirectory Without(int id)
    {
        var copy = new Dictionary<int, EndpointLru>(_byId);
        copy.Remove(id);
        return new EndpointDirectory(copy);
    }

    private static int Home(int id, int mask) => (int)(((uint)id * 0x9E3779B9u) >> 7) & mask;
}
