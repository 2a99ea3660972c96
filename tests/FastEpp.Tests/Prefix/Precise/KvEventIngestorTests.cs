using System.Text;
using FastEpp.Prefix.Precise;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// Events → index: FastEpp's keys recomputed from token ids equal the request-side keys; parents chain across events;
/// removals, AllBlocksCleared, sequence gaps and regressions clear exactly the endpoint they concern.
/// </summary>
public sealed class KvEventIngestorTests
{
    private const int B = 4;
    private static readonly ulong s_root = TokenBlockKeys.Root(""u8);
    private static readonly byte[] s_topic = Encoding.UTF8.GetBytes("kv@10.0.0.5:8000@m");

    private static uint[] Tokens(int blocks, uint seed = 1) =>
        Enumerable.Range(0, blocks * B).Select(i => (uint)(seed * 1000 + i)).ToArray();

    private static ulong[] RequestKeys(uint[] tokens, string model = "m", string salt = "")
    {
        var keys = new ulong[tokens.Length / B];
        int n = TokenBlockKeys.Chain(TokenBlockKeys.ChainStart(s_root, Encoding.UTF8.GetBytes(model)), tokens, B, Encoding.UTF8.GetBytes(salt), keys);
        return keys[..n];
    }

    private sealed class Rig
    {
        public readonly PreciseIndex Index = new(1 << 16);
        public readonly PreciseCounters Counters = new();
        public readonly KvEventIngestor Ingestor;
        public readonly EndpointStream A = new(1, "10.0.0.5:8000"), Other = new(2, "10.0.0.6:8000");

        public Rig() => Ingestor = new KvEventIngestor(Index, B, s_root, Counters);

        public void Send(EndpointStream s, ulong seq, Action<MsgPackTestWriter> events, int count, byte[]? topic = null)
        {
            var w = new MsgPackTestWriter().Batch(count);
            events(w);
            Ingestor.Apply(s, topic ?? s_topic, seq, w.EndBatch().ToArray());
        }

        public int Held(ulong[] keys, int endpoint)
        {
            int n = 0;
            while (n < keys.Length && Index.Holds(keys[n], endpoint)) n++;
            return n;
        }
    }

    [Fact]
    public void BlockStored_KeysEqualTheRequestSideChain_AcrossEventsViaTheParent()
    {
        var rig = new Rig();
        uint[] tokens = Tokens(5);
        ulong[] keys = RequestKeys(tokens);
        rig.Send(rig.A, 0, w => w.BlockStored([101, 102], null, tokens[..(2 * B)], B), 1);
        Assert.Equal(2, rig.Held(keys, 1));
        // The next step's store continues from engine hash 102.
        rig.Send(rig.A, 1, w => w.BlockStored([103, 104, 105], 102, tokens[(2 * B)..], B), 1);
        Assert.Equal(5, rig.Held(keys, 1));
        Assert.Equal(0, rig.Held(keys, 2));
        // Another model's chain (and another salt) never matches.
        Assert.Equal(0, rig.Held(RequestKeys(tokens, "other"), 1));
        Assert.Equal(0, rig.Held(RequestKeys(tokens, "m", "salt"), 1));
        Assert.Equal(2, rig.Counters[PreciseEvent.Batches]);
    }

    [Fact]
    public void UnknownParent_IsDropped_AndCounted()
    {
        var rig = new Rig();
        uint[] tokens = Tokens(2);
        rig.Send(rig.A, 0, w => w.BlockStored([201], 999, tokens[B..], B), 1);
        Assert.Equal(0, rig.Index.KeyCount);
        Assert.Equal(1, rig.Counters[PreciseEvent.UnknownParent]);
    }

    [Fact]
    public void CacheSaltAndLoraName_FoldIntoTheKeysAsOnTheRequestSide()
    {
        var rig = new Rig();
        uint[] tokens = Tokens(2);
        // The engine reports the LoRA adapter in every block's extra keys and the salt in block 0's.
        rig.Send(rig.A, 0, w => w.BlockStored([1, 2], null, tokens, B, loraName: "adapter", extras: ["salt-x", null]), 1);
        Assert.Equal(2, rig.Held(RequestKeys(tokens, "adapter", "salt-x"), 1));
        Assert.Equal(0, rig.Held(RequestKeys(tokens, "m", "salt-x"), 1));
    }

    [Fact]
    public void BlockRemoved_DropsOnlyThatEndpointsEntry()
    {
        var rig = new Rig();
        uint[] tokens = Tokens(3);
        ulong[] keys = RequestKeys(tokens);
        rig.Send(rig.A, 0, w => w.BlockStored([1, 2, 3], null, tokens, B), 1);
        rig.Send(rig.Other, 0, w => w.BlockStored([51, 52, 53], null, tokens, B), 1);
        rig.Send(rig.A, 1, w => w.BlockRemoved(3), 1);
        Assert.Equal(2, rig.Held(keys, 1));
        Assert.Equal(3, rig.Held(keys, 2));
    }

    [Fact]
    public void AllBlocksCleared_ClearsTheEndpoint()
    {
        var rig = new Rig();
        uint[] tokens = Tokens(3);
        ulong[] keys = RequestKeys(tokens);
        rig.Send(rig.A, 0, w => w.BlockStored([1, 2, 3], null, tokens, B), 1);
        rig.Send(rig.Other, 0, w => w.BlockStored([1, 2, 3], null, tokens, B), 1);
        rig.Send(rig.A, 1, w => w.AllBlocksCleared(), 1);
        Assert.Equal(0, rig.Held(keys, 1));
        Assert.Equal(3, rig.Held(keys, 2));
        Assert.Equal(1, rig.Counters[PreciseEvent.AllBlocksCleared]);
        // Its engine mapping went too: a store continuing from an old parent is unknown now.
        rig.Send(rig.A, 2, w => w.BlockStored([4], 3, Tokens(1, 9), B), 1);
        Assert.Equal(1, rig.Counters[PreciseEvent.UnknownParent]);
    }

    [Theory]
    [InlineData(5UL)]   // a gap: batches 1..4 were missed
    [InlineData(0UL)]   // a regression: the engine restarted and renumbered from 0
    public void SequenceGapOrRegression_ClearsTheEndpointBeforeApplying(ulong next)
    {
        var rig = new Rig();
        uint[] tokens = Tokens(2);
        ulong[] keys = RequestKeys(tokens);
        uint[] fresh = Tokens(1, 7);
        rig.Send(rig.A, 0, w => w.BlockStored([1, 2], null, tokens, B), 1);
        rig.Send(rig.Other, 0, w => w.BlockStored([1, 2], null, tokens, B), 1);
        Assert.Equal(2, rig.Held(keys, 1));
        rig.Send(rig.A, next == 0 ? 0 : next, w => w.BlockStored([9], null, fresh, B), 1);
        Assert.Equal(0, rig.Held(keys, 1));
        Assert.Equal(1, rig.Held(RequestKeys(fresh), 1)); // the batch after the gap is applied
        Assert.Equal(2, rig.Held(keys, 2));
        Assert.Equal(1, rig.Counters[PreciseEvent.SequenceGaps]);
        // Consecutive from there on: no further clearing.
        rig.Send(rig.A, (next == 0 ? 0 : next) + 1, w => w.BlockStored([10], 9, Tokens(1, 8), B), 1);
        Assert.Equal(1, rig.Counters[PreciseEvent.SequenceGaps]);
    }

    [Fact]
    public void WrongBlockSize_OtherTiers_AndSlidingWindowGroups_AreNotIndexed()
    {
        var rig = new Rig();
        int mismatches = 0;
        var ingestor = new KvEventIngestor(rig.Index, B, s_root, rig.Counters) { BlockSizeMismatch = (_, _) => mismatches++ };
        var w = new MsgPackTestWriter().Batch(3)
            .BlockStored([1], null, Tokens(2)[..8], 8)
            .BlockStored([2], null, Tokens(1), B, medium: "CPU");
        w.Array(11).Str("BlockStored").Array(1).UInt(3).Nil().Array(B);
        foreach (uint t in Tokens(1)) w.UInt(t);
        w.UInt(B).Nil().Str("GPU").Nil().Nil().UInt(1).Str("sliding_window");
        ingestor.Apply(rig.A, s_topic, 0, w.EndBatch().ToArray());
        ingestor.Apply(rig.A, s_topic, 1, new MsgPackTestWriter().Batch(1).BlockStored([4], null, Tokens(2)[..8], 8).EndBatch().ToArray());
        Assert.Equal(0, rig.Index.KeyCount);
        Assert.Equal(2, rig.Counters[PreciseEvent.BlockSizeMismatch]);
        Assert.Equal(2, rig.Counters[PreciseEvent.Skipped]);
        Assert.Equal(1, mismatches); // logged once per stream
    }

    [Fact]
    public void MalformedBatch_IsCounted_AndEventsBeforeItStay()
    {
        var rig = new Rig();
        uint[] tokens = Tokens(1);
        byte[] good = new MsgPackTestWriter().Batch(2).BlockStored([1], null, tokens, B).ToArray();
        byte[] bad = [.. good, 0xc1];
        rig.Ingestor.Apply(rig.A, s_topic, 0, bad);
        Assert.Equal(1, rig.Counters[PreciseEvent.Malformed]);
        Assert.Equal(1, rig.Held(RequestKeys(tokens), 1));
    }
}
