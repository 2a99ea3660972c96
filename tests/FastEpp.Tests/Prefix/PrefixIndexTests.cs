using FastEpp.Prefix;
using Xunit.Abstractions;

namespace FastEpp.Tests.Prefix;

public sealed class PrefixIndexTests(ITestOutputHelper output)
{
    private const ulong A = 0xA1, B = 0xB2, C = 0xC3, D = 0xD4, E = 0xE5, F = 0xF6;

    [Fact]
    public void Match_EmptyIndex_WalksNothing()
    {
        var index = new PrefixIndex();
        var counts = new int[2];
        Assert.Equal(0, index.Match([A, B], [1, 2], counts));
        Assert.Equal([0, 0], counts);
    }

    [Fact]
    public void Match_RecordedChain_CountsPerCandidate()
    {
        var index = new PrefixIndex();
        index.Record([A, B, C], 1, 100);
        index.Record([A, B], 2, 100);

        var counts = new int[3];
        int walked = index.Match([A, B, C, D], [1, 2, 3], counts);

        Assert.Equal(3, walked);          // stops at D: nobody holds it
        Assert.Equal([3, 2, 0], counts);  // 3 is unknown to the index
    }

    [Fact]
    public void Match_HashHeldByNobody_StopsTheWalkEvenIfLaterBlocksAreHeld()
    {
        var index = new PrefixIndex();
        index.Record([A, C], 1, 100);
        var counts = new int[1];
        Assert.Equal(1, index.Match([A, B, C], [1], counts));
        Assert.Equal(1, counts[0]);
    }

    [Fact]
    public void Match_NonContiguousHolder_CountsEveryWalkedBlockItHolds()
    {
        // §3.4: the count is "how many of the walked blocks this server has", not the run length from block 1.
        var index = new PrefixIndex();
        index.Record([A, B, C], 1, 100);
        index.Record([B, C], 2, 100);
        var counts = new int[2];
        Assert.Equal(3, index.Match([A, B, C], [1, 2], counts));
        Assert.Equal([3, 2], counts);
    }

    [Fact]
    public void Match_DuplicateAndUnknownCandidates_EachGetsItsCount()
    {
        var index = new PrefixIndex();
        index.Record([A, B], 7, 100);
        var counts = new int[4];
        index.Match([A, B], [7, -1, 7, int.MaxValue], counts);
        Assert.Equal([2, 0, 2, 0], counts);
    }

    [Fact]
    public void Match_CountsShorterThanCandidates_Throws()
    {
        var index = new PrefixIndex();
        Assert.Throws<ArgumentException>(() => index.Match([A], [1, 2], new int[1]));
    }

    [Fact]
    public void Record_BeyondCapacity_EvictsLeastRecentFirstBlockOfRequestIsOldest()
    {
        var index = new PrefixIndex();
        index.Record([A, B, C, D], 1, 3);

        Assert.Equal([D, C, B], index.GetEntries(1));
        Assert.Empty(index.GetHolders(A));
        Assert.Equal(3, index.EntryCount);

        // The front of the older prompt goes first: the prefix walk now fails at its first block.
        var counts = new int[1];
        Assert.Equal(0, index.Match([A, B, C, D], [1], counts));
        Assert.Equal(0, counts[0]);
    }

    [Fact]
    public void Record_ExistingHash_BecomesMostRecent()
    {
        var index = new PrefixIndex();
        index.Record([A, B, C], 1, 3);
        index.Record([A], 1, 3);
        Assert.Equal([A, C, B], index.GetEntries(1));

        index.Record([D], 1, 3);                // evicts B, the least recent
        Assert.Equal([D, A, C], index.GetEntries(1));
        Assert.Empty(index.GetHolders(B));
        Assert.Equal([1], index.GetHolders(A));
    }

    [Fact]
    public void Record_SecondRequestUnderPressure_EvictsFrontOfOlderPrompt()
    {
        var index = new PrefixIndex();
        index.Record([A, B, C, D], 1, 4);
        index.Record([E, F], 1, 4);
        Assert.Equal([F, E, D, C], index.GetEntries(1));
    }

    [Fact]
    public void Record_CapacityIsFixedAtCreation()
    {
        var index = new PrefixIndex();
        index.Record([A, B], 1, 2);
        index.Record([C, D, E], 1, 1000);
        Assert.Equal([E, D], index.GetEntries(1));
        Assert.Equal(2, index.EntryCount);
    }

    [Fact]
    public void Record_CapacityPerEndpoint_IsIndependent()
    {
        var index = new PrefixIndex();
        ulong[] chain = [1, 2, 3, 4, 5, 6];
        index.Record(chain, 1, 2);
        index.Record(chain, 2, 4);
        index.Record(chain, 3, 100);
        Assert.Equal(2, index.GetEntries(1).Length);
        Assert.Equal(4, index.GetEntries(2).Length);
        Assert.Equal(6, index.GetEntries(3).Length);
        Assert.Equal(12, index.EntryCount);
        Assert.Equal([2, 3], index.GetHolders(3));
        Assert.Equal([1, 2, 3], index.GetHolders(6));
    }

    [Fact]
    public void Record_NonPositiveCapacity_KeepsOneEntry()
    {
        var index = new PrefixIndex();
        index.Record([A, B], 1, 0);
        Assert.Equal([B], index.GetEntries(1));
    }

    [Fact]
    public void Record_HugeReportedCapacity_GrowsOnlyWithTheEntries()
    {
        var index = new PrefixIndex();
        ulong[] chain = Enumerable.Range(1, 5000).Select(i => (ulong)i).ToArray();
        index.Record(chain, 1, int.MaxValue);
        Assert.Equal(5000, index.EntryCount);
        Assert.InRange(index.ApproximateBytes, 1, 5000 * 100);
        Assert.Equal(chain.Reverse(), index.GetEntries(1));
    }

    [Fact]
    public void Record_EmptyHashes_DoesNotCreateEndpoint()
    {
        var index = new PrefixIndex();
        index.Record([], 1, 10);
        Assert.Equal(0, index.EndpointCount);
    }

    [Fact]
    public void Record_HashZero_IsStoredLikeAnyOther()
    {
        var index = new PrefixIndex();
        index.Record([0, A], 1, 10);
        index.Record([0], 2, 10);
        var counts = new int[2];
        Assert.Equal(2, index.Match([0, A], [1, 2], counts));
        Assert.Equal([2, 1], counts);
        Assert.Equal([1, 2], index.GetHolders(0));

        index.RemoveEndpoint(1);
        index.RemoveEndpoint(2);
        Assert.Equal(0, index.Match([0], [1], counts));
        Assert.Equal(0, index.DistinctHashCount);
    }

    [Fact]
    public void RemoveEndpoint_DropsAllItsEntriesAndFreesTheSlotCleanly()
    {
        var index = new PrefixIndex();
        index.Record([A, B, C], 1, 10);
        index.Record([A, B], 2, 10);
        index.RemoveEndpoint(1);

        Assert.Empty(index.GetEntries(1));
        Assert.Equal([2], index.GetHolders(A));
        Assert.Empty(index.GetHolders(C));
        Assert.Equal(2, index.EntryCount);
        Assert.Equal(1, index.EndpointCount);

        // A new endpoint takes the freed slot and must not inherit anything.
        index.Record([D], 3, 10);
        var counts = new int[3];
        Assert.Equal(2, index.Match([A, B, C], [1, 2, 3], counts));
        Assert.Equal([0, 2, 0], counts);

        index.RemoveEndpoint(42); // unknown: no-op
        Assert.Equal(3, index.EntryCount);
    }

    [Fact]
    public void Record_AfterRemove_CreatesAFreshLruWithTheNewCapacity()
    {
        var index = new PrefixIndex();
        index.Record([A, B, C], 1, 2);
        index.RemoveEndpoint(1);
        index.Record([A, B, C], 1, 3);
        Assert.Equal([C, B, A], index.GetEntries(1));
    }

    [Fact]
    public void Retain_RemovesEverythingNotLive()
    {
        var index = new PrefixIndex();
        for (int id = 1; id <= 5; id++)
            index.Record([A, (ulong)(100 + id)], id, 10);

        index.Retain([2, 4, 99]);

        Assert.Equal([2, 4], index.GetEndpointIds().Order());
        Assert.Equal([2, 4], index.GetHolders(A));
        Assert.Equal(4, index.EntryCount);
        Assert.Equal(3, index.DistinctHashCount);
    }

    [Fact]
    public void Record_HashHeldByManyEndpoints_SpillsToBitsetAndBack()
    {
        var index = new PrefixIndex(shardBits: 1);
        const int endpoints = 300; // slots beyond 64 and 256: bitsets longer than one word, grown as slots appear
        for (int id = 1; id <= endpoints; id++)
            index.Record([A, B, (ulong)(1000 + id)], id, 10);

        int[] ids = Enumerable.Range(1, endpoints).ToArray();
        var counts = new int[endpoints];
        Assert.Equal(3, index.Match([A, B, 1001], ids, counts));
        Assert.Equal(3, counts[0]);
        Assert.All(counts.Skip(1), c => Assert.Equal(2, c));
        Assert.Equal(ids, index.GetHolders(A));

        // Drop all but three holders, then force rehashes so the bitset is folded back into an inline word.
        for (int id = 4; id <= endpoints; id++)
            index.RemoveEndpoint(id);
        for (int i = 0; i < 2000; i++)
            index.Record([(ulong)(1_000_000 + i)], 9999, 100_000);

        Assert.Equal([1, 2, 3], index.GetHolders(A));
        Assert.Equal(2000, index.GetEntries(9999).Length);
        Assert.Equal(2, index.Match([A, B, 5], [1, 2, 3, 4], counts));
        Assert.Equal([2, 2, 2, 0], counts[..4]);
    }

    [Fact]
    public void Record_BitsetCreatedWithFewSlots_GrowsForALaterHighSlot()
    {
        var index = new PrefixIndex();
        // Slots 0..99 exist, but only slots 0..3 share A at first → bitset sized for the current slot count.
        for (int id = 1; id <= 100; id++)
            index.Record([(ulong)(5000 + id)], id, 10);
        for (int id = 1; id <= 4; id++)
            index.Record([A], id, 10);
        // Endpoints with slots 100..199 appear later and record A.
        for (int id = 101; id <= 200; id++)
            index.Record([A], id, 10);

        int[] expected = [.. Enumerable.Range(1, 4), .. Enumerable.Range(101, 100)];
        Assert.Equal(expected, index.GetHolders(A));
    }

    [Fact]
    public void Match_RunsOfEqualAndChangingMemberships_CountLikeTheModel()
    {
        var index = new PrefixIndex();
        var model = new ReferencePrefixModel();
        ulong[] h = [11, 12, 13, 14, 15, 16, 17, 18, 19];
        void Hold(int id, params ulong[] hashes)
        {
            index.Record(hashes, id, 100);
            model.Record(hashes, id, 100);
        }
        for (int id = 1; id <= 5; id++)
            Hold(id, h[0], h[1], h[2]);          // bitsets with equal contents (a run)
        for (int id = 1; id <= 4; id++)
            Hold(id, h[3]);                      // a smaller bitset
        Hold(1, h[4], h[5]);                     // inline {1,2,3} twice ...
        Hold(2, h[4], h[5]);
        Hold(3, h[4], h[5]);
        Hold(3, h[6]);                           // ... then inline in another insertion order
        Hold(2, h[6]);
        Hold(1, h[6], h[7]);                     // {1}
        for (int id = 1; id <= 6; id++)
            Hold(id, h[8]);                      // back to a bitset after inline words

        int[] ids = [1, 2, 3, 4, 5, 6, 7];
        var expected = new int[ids.Length];
        var actual = new int[ids.Length];
        Assert.Equal(model.Match(h, ids, expected), index.Match(h, ids, actual));
        Assert.Equal(expected, actual);
        Assert.Equal([9, 8, 8, 5, 4, 1, 0], actual);
    }

    [Fact]
    public void Match_BitsetEmptiedByRemovals_StopsTheWalk()
    {
        var index = new PrefixIndex();
        for (int id = 1; id <= 5; id++)
            index.Record([A], id, 10);
        for (int id = 6; id <= 10; id++)
            index.Record([B], id, 10);
        index.Record([A, B, C], 1, 10);          // endpoint 1 now holds A, B, C
        for (int id = 6; id <= 10; id++)
            index.RemoveEndpoint(id);

        var counts = new int[2];
        Assert.Equal(3, index.Match([A, B, C], [1, 2], counts));
        Assert.Equal([3, 1], counts);

        index.RemoveEndpoint(1);                  // B's membership: a bitset with no bit left
        Assert.Equal(1, index.Match([A, B, C], [1, 2], counts));
        Assert.Equal([0, 1], counts);
        Assert.Empty(index.GetHolders(B));
    }

    [Fact]
    public void RandomOperations_MoreEndpointsThanTheStackScratch_MatchTheModel()
    {
        var rng = new Random(9);
        var index = new PrefixIndex(shardBits: 2);
        var model = new ReferencePrefixModel();
        ulong[][] chains = TestChains.Build(rng, chainCount: 40, families: 3);
        int[] ids = Enumerable.Range(1, 700).ToArray();
        for (int step = 0; step < 3000; step++)
        {
            ulong[] chain = chains[rng.Next(chains.Length)];
            int id = ids[rng.Next(ids.Length)];
            if (rng.Next(20) == 0)
            {
                index.RemoveEndpoint(id);
                model.Remove(id);
            }
            else
            {
                int capacity = 1 + rng.Next(30);
                index.Record(chain, id, capacity);
                model.Record(chain, id, capacity);
            }
        }
        AssertSameContents(model, index, chains, [.. ids, 701]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomOperations_MatchTheReferenceModelAfterEveryStep(int seed)
    {
        var rng = new Random(seed);
        var index = new PrefixIndex(shardBits: 1);
        var model = new ReferencePrefixModel();
        ulong[][] chains = TestChains.Build(rng, chainCount: 60, families: 6);
        int[] candidateUniverse = Enumerable.Range(1, 80).ToArray();

        for (int step = 0; step < 4000; step++)
        {
            int op = rng.Next(100);
            if (op < 80)
            {
                ulong[] chain = chains[rng.Next(chains.Length)];
                int id = 1 + rng.Next(70);
                int capacity = 1 + rng.Next(40);
                index.Record(chain, id, capacity);
                model.Record(chain, id, capacity);
            }
            else if (op < 95)
            {
                int id = 1 + rng.Next(70);
                index.RemoveEndpoint(id);
                model.Remove(id);
            }
            else
            {
                int[] live = candidateUniverse.Where(_ => rng.Next(4) != 0).ToArray();
                index.Retain(live);
                model.Retain(live);
            }

            ulong[] probe = chains[rng.Next(chains.Length)];
            int[] candidates = candidateUniverse.Where(_ => rng.Next(3) == 0).ToArray();
            var actual = new int[candidates.Length];
            var expected = new int[candidates.Length];
            Assert.Equal(model.Match(probe, candidates, expected), index.Match(probe, candidates, actual));
            Assert.Equal(expected, actual);
        }

        AssertSameContents(model, index, chains, candidateUniverse);
    }

    [Fact]
    public void ApproximateBytes_FullLrusOfUniqueHashes_StayUnder100BytesPerEntry()
    {
        var index = new PrefixIndex();
        var rng = new Random(5);
        const int endpoints = 100, capacity = 1000;
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var chain = new ulong[256];
        for (int round = 0; round < 8; round++)
        {
            for (int id = 1; id <= endpoints; id++)
            {
                for (int i = 0; i < chain.Length; i++)
                    chain[i] = (ulong)rng.NextInt64() | 1;
                index.Record(chain, id, capacity);
            }
        }
        long after = GC.GetTotalMemory(forceFullCollection: true);

        // The reference shape with the same content, for comparison (README figure).
        var model = new ReferencePrefixModel();
        long modelBefore = GC.GetTotalMemory(forceFullCollection: true);
        foreach (int id in index.GetEndpointIds())
            model.Record(index.GetEntries(id).Reverse().ToArray(), id, capacity);
        long modelAfter = GC.GetTotalMemory(forceFullCollection: true);
        Assert.Equal(index.EntryCount, model.EntryCount);

        Assert.Equal(endpoints * capacity, index.EntryCount);
        double perEntry = (double)index.ApproximateBytes / index.EntryCount;
        output.WriteLine($"entries={index.EntryCount} approx={index.ApproximateBytes} B ({perEntry:F1} B/entry), " +
            $"GC heap delta={(after - before) / (double)index.EntryCount:F1} B/entry, " +
            $"reference shape={(modelAfter - modelBefore) / (double)model.EntryCount:F1} B/entry");
        Assert.InRange(perEntry, 16, 100);
    }

    [Fact]
    public void ApproximateBytes_SharedPrefixes_StayUnder100BytesPerEntry()
    {
        var index = new PrefixIndex();
        var rng = new Random(6);
        ulong[] system = Enumerable.Range(0, 200).Select(_ => (ulong)rng.NextInt64() | 1).ToArray();
        var chain = new ulong[256];
        system.CopyTo(chain, 0);
        for (int round = 0; round < 20; round++)
        {
            for (int id = 1; id <= 100; id++)
            {
                for (int i = system.Length; i < chain.Length; i++)
                    chain[i] = (ulong)rng.NextInt64() | 1;
                index.Record(chain, id, 2000);
            }
        }
        double perEntry = (double)index.ApproximateBytes / index.EntryCount;
        output.WriteLine($"entries={index.EntryCount} distinct={index.DistinctHashCount} approx={index.ApproximateBytes} B ({perEntry:F1} B/entry)");
        Assert.InRange(perEntry, 8, 100);
    }

    internal static void AssertSameContents(ReferencePrefixModel model, PrefixIndex index, ulong[][] chains, int[] ids)
    {
        Assert.Equal(model.EndpointIds.Order(), index.GetEndpointIds().Order());
        foreach (int id in ids)
            Assert.Equal(model.Entries(id), index.GetEntries(id));
        foreach (ulong hash in chains.SelectMany(c => c).Distinct())
            Assert.Equal(model.Holders(hash), index.GetHolders(hash));
        Assert.Equal(model.EntryCount, index.EntryCount);
        Assert.Equal(model.DistinctHashCount, index.DistinctHashCount);
        var actual = new int[ids.Length];
        var expected = new int[ids.Length];
        foreach (ulong[] chain in chains)
        {
            Assert.Equal(model.Match(chain, ids, expected), index.Match(chain, ids, actual));
            Assert.Equal(expected, actual);
        }
    }
}
