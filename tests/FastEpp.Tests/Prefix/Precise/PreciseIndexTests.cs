using FastEpp.Prefix.Precise;
using Microsoft.Extensions.Time.Testing;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>The bounded precise index: longest-prefix match per endpoint, LRU eviction, holder limit, speculative TTL, clearing.</summary>
public sealed class PreciseIndexTests
{
    private static ulong[] Keys(int n, ulong salt = 0) => Enumerable.Range(1, n).Select(i => (ulong)i * 0x9E3779B97F4A7C15UL ^ salt).ToArray();

    [Fact]
    public void Match_CountsEachEndpointsLeadingRun_AndStopsAtItsFirstMiss()
    {
        var index = new PreciseIndex(1000);
        ulong[] keys = Keys(6);
        foreach (ulong k in keys[..4]) index.Add(k, 1);
        foreach (ulong k in keys) index.Add(k, 2);
        index.Add(keys[5], 3); // a tail without its prefix counts for nothing
        index.Remove(keys[1], 2); // a hole ends endpoint 2's run
        var counts = new int[4];
        index.Match(keys, [1, 2, 3, 4], counts);
        Assert.Equal(new[] { 4, 1, 0, 0 }, counts);
    }

    [Fact]
    public void Capacity_EvictsTheLeastRecentlyWrittenKeys()
    {
        var index = new PreciseIndex(64, shardBits: 0);
        ulong[] keys = Keys(100);
        foreach (ulong k in keys) index.Add(k, 1);
        Assert.Equal(64, index.KeyCount);
        Assert.False(index.Holds(keys[0], 1));
        Assert.True(index.Holds(keys[99], 1));
        // Re-writing an old key makes it recent again.
        index.Add(keys[40], 1);
        foreach (ulong k in Keys(63, 0x55)) index.Add(k, 2);
        Assert.True(index.Holds(keys[40], 1));
        Assert.False(index.Holds(keys[41], 1));
    }

    [Fact]
    public void PodsPerKey_TheOldestHolderGivesWay()
    {
        var index = new PreciseIndex(100, podsPerKey: 2);
        index.Add(7, 1);
        index.Add(7, 2);
        index.Add(7, 3);
        Assert.False(index.Holds(7, 1));
        Assert.True(index.Holds(7, 2));
        Assert.True(index.Holds(7, 3));
    }

    [Fact]
    public void Speculative_ExpiresAfterItsTtl_UnlessAnEventConfirmedIt()
    {
        var time = new FakeTimeProvider();
        var index = new PreciseIndex(1000);
        ulong[] keys = Keys(4);
        index.Add(keys[0], 5); // already confirmed: speculation leaves it alone
        index.AddSpeculative(keys, 5, time.GetTimestamp() + time.TimestampFrequency * 2);
        Assert.Equal(3, index.PendingSpeculative);
        Assert.True(index.HoldsSpeculatively(keys[2], 5));
        index.Add(keys[1], 5); // the engine's BlockStored confirms block 1
        Assert.Equal(0, index.ExpireSpeculative(time.GetTimestamp()));
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(2, index.ExpireSpeculative(time.GetTimestamp()));
        Assert.True(index.Holds(keys[0], 5));
        Assert.True(index.Holds(keys[1], 5));
        Assert.False(index.Holds(keys[2], 5));
        Assert.False(index.Holds(keys[3], 5));
        Assert.Equal(2, index.KeyCount);
    }

    [Fact]
    public void ClearEndpoint_RemovesOnlyThatEndpoint_AndFreesKeysNobodyHolds()
    {
        var index = new PreciseIndex(10_000);
        ulong[] shared = Keys(50), own = Keys(50, 0xABC);
        foreach (ulong k in shared) { index.Add(k, 1); index.Add(k, 2); }
        foreach (ulong k in own) index.Add(k, 1);
        index.ClearEndpoint(1);
        Assert.Equal(50, index.KeyCount);
        Assert.All(shared, k => Assert.True(index.Holds(k, 2)));
        Assert.All(shared, k => Assert.False(index.Holds(k, 1)));
        // Slots are reused without corrupting probe chains.
        foreach (ulong k in own) index.Add(k, 3);
        Assert.All(own, k => Assert.True(index.Holds(k, 3)));
        Assert.Equal(100, index.KeyCount);
    }

    [Fact]
    public void RandomOperations_AgreeWithADictionaryModel()
    {
        var rng = new Random(42);
        var index = new PreciseIndex(1 << 20, podsPerKey: 8, shardBits: 2);
        var model = new Dictionary<ulong, HashSet<int>>();
        ulong[] pool = Keys(500);
        for (int step = 0; step < 20_000; step++)
        {
            ulong k = pool[rng.Next(pool.Length)];
            int e = rng.Next(1, 6);
            switch (rng.Next(10))
            {
                case < 6:
                    index.Add(k, e);
                    (model.TryGetValue(k, out var s) ? s : model[k] = []).Add(e);
                    break;
                case < 9:
                    index.Remove(k, e);
                    if (model.TryGetValue(k, out var r) && r.Remove(e) && r.Count == 0) model.Remove(k);
                    break;
                default:
                    index.ClearEndpoint(e);
                    foreach (var key in model.Keys.ToList())
                        if (model[key].Remove(e) && model[key].Count == 0) model.Remove(key);
                    break;
            }
        }
        Assert.Equal(model.Count, index.KeyCount);
        foreach (ulong k in pool)
            for (int e = 1; e < 6; e++)
                Assert.Equal(model.TryGetValue(k, out var s) && s.Contains(e), index.Holds(k, e));
    }

    [Fact]
    public void Memory_PerKey_StaysUnder100BytesWithTenHolderSlotsPerKey()
    {
        var index = new PreciseIndex(1 << 20);
        ulong[] keys = Keys(200_000);
        foreach (ulong k in keys) index.Add(k, 1);
        double perKey = (double)index.ApproximateBytes / index.KeyCount;
        Assert.InRange(perKey, 56, 100);
    }
}
