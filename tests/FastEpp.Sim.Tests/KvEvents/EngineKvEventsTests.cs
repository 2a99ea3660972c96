using System.Text;
using FastEpp.Sim.Engine;
using FastEpp.Sim.KvEvents;
using FastEpp.Sim.Tests.Engine;

namespace FastEpp.Sim.Tests.KvEvents;

/// <summary>The engine reports what its block pool really stores and evicts, one batch per step (simulated time only).</summary>
public sealed class EngineKvEventsTests
{
    private sealed class ListSink : IKvEventSink
    {
        public List<KvEventBatch> Batches { get; } = new();

        public void Publish(KvEventBatch batch) => Batches.Add(batch);

        public IEnumerable<KvCacheEvent> Events => Batches.SelectMany(b => b.Events);
    }

    private static (EngineCore Engine, ListSink Sink) NewEngine(int blocks = 1000)
    {
        var sink = new ListSink();
        var engine = new EngineCore(EngineTestKit.Profile(blocks: blocks));
        engine.Kv.Events = new KvEventRecorder(sink, 1000.0);
        return (engine, sink);
    }

    private static SimRequest Request(string prompt, int maxTokens = 2, int adapter = -1, string? adapterName = null)
    {
        var t = new PromptTokenizer(16, FastEpp.Sim.Tokenization.SimTokenizer.StandIn, collectIds: true);
        t.Feed(Encoding.UTF8.GetBytes(prompt));
        t.Finish();
        return new SimRequest(1, t.TokenCount, t.ToHashArray(adapterName), maxTokens, adapter)
        {
            TokenIds = t.ToTokenIdArray(),
            AdapterName = adapterName,
        };
    }

    [Fact]
    public void Request_StoresItsFullPromptBlocks_WithTheirTokens()
    {
        (EngineCore engine, ListSink sink) = NewEngine();
        SimRequest r = Request(EngineTestKit.Text(40, 1));   // 40 tokens: 2 full blocks + 8 tokens
        engine.Submit(r, 0);
        engine.RunUntilIdle();

        BlockStored stored = Assert.IsType<BlockStored>(Assert.Single(sink.Events));
        Assert.Equal(r.BlockHashes, stored.BlockHashes);
        Assert.Null(stored.ParentBlockHash);
        Assert.Equal(r.TokenIds![..32], stored.TokenIds);
        Assert.Equal(16, stored.BlockSize);
        Assert.Null(stored.LoraId);
        Assert.Null(stored.LoraName);
        Assert.Equal("GPU", stored.Medium);
        // One batch, stamped with the end of the step that scheduled the blocks.
        KvEventBatch batch = Assert.Single(sink.Batches);
        Assert.Equal(1000.0 + r.FirstTokenTime, batch.Timestamp, 9);
    }

    [Fact]
    public void SharedPrefix_StoresOnlyTheNewBlocks_WithTheParentHash()
    {
        (EngineCore engine, ListSink sink) = NewEngine();
        string prefix = EngineTestKit.Text(32, 2);
        SimRequest a = Request(prefix + EngineTestKit.Text(20, 3));
        engine.Submit(a, 0);
        engine.RunUntilIdle();
        sink.Batches.Clear();

        SimRequest b = Request(prefix + EngineTestKit.Text(40, 4));   // 72 tokens: 4 full blocks, 2 of them cached
        engine.Submit(b, 10);
        engine.RunUntilIdle();
        BlockStored stored = Assert.IsType<BlockStored>(Assert.Single(sink.Events));
        Assert.Equal(32, b.CachedTokens);
        Assert.Equal(b.BlockHashes[2..4], stored.BlockHashes);
        Assert.Equal(b.BlockHashes[1], stored.ParentBlockHash);
        Assert.Equal(b.TokenIds![32..64], stored.TokenIds);
    }

    [Fact]
    public void Adapter_CarriesLoraIdAndName()
    {
        (EngineCore engine, ListSink sink) = NewEngine();
        SimRequest r = Request(EngineTestKit.Text(20, 5), adapter: 1, adapterName: "sql-lora");
        engine.Submit(r, 0);
        engine.RunUntilIdle();
        BlockStored stored = Assert.IsType<BlockStored>(Assert.Single(sink.Events));
        Assert.Equal(2, stored.LoraId);
        Assert.Equal("sql-lora", stored.LoraName);
        Assert.Equal(r.BlockHashes, stored.BlockHashes);
    }

    [Fact]
    public void ReusingACachedBlock_RemovesItsHash()
    {
        (EngineCore engine, ListSink sink) = NewEngine(blocks: 8);
        SimRequest a = Request(EngineTestKit.Text(64, 6), maxTokens: 1);   // 4 full blocks (+1 for the output token)
        engine.Submit(a, 0);
        engine.RunUntilIdle();
        SimRequest b = Request(EngineTestKit.Text(100, 7), maxTokens: 1);   // needs 7 blocks: evicts cached ones of a
        engine.Submit(b, 10);
        engine.RunUntilIdle();

        var removed = sink.Events.OfType<BlockRemoved>().SelectMany(e => e.BlockHashes).ToList();
        Assert.NotEmpty(removed);
        Assert.All(removed, h => Assert.Contains(h, a.BlockHashes));
        Assert.All(removed, h => Assert.False(engine.Kv.IsCached(h)));
        // Every hash still cached was stored and not removed since.
        foreach (ulong h in a.BlockHashes.Concat(b.BlockHashes))
        {
            bool stored = sink.Events.OfType<BlockStored>().Any(s => s.BlockHashes.Contains(h));
            Assert.Equal(engine.Kv.IsCached(h), stored && !removed.Contains(h));
        }
    }

    [Fact]
    public void ResetPrefixCache_ClearsWhenIdle_AndRefusesWhileBlocksAreHeld()
    {
        (EngineCore engine, ListSink sink) = NewEngine();
        SimRequest r = Request(EngineTestKit.Text(40, 8), maxTokens: 50);
        engine.Submit(r, 0);
        engine.AdvanceTo(0.05);   // prefill done, decoding: the request holds blocks
        Assert.Equal(RequestState.Running, r.State);
        int before = sink.Batches.Count;
        Assert.False(engine.ResetPrefixCache(0.05));
        Assert.Equal(before, sink.Batches.Count);

        engine.RunUntilIdle();
        Assert.True(engine.ResetPrefixCache(100));
        Assert.IsType<AllBlocksCleared>(Assert.Single(sink.Batches[^1].Events));
        Assert.Equal(0, engine.Kv.CachedBlockCount);
    }

    [Fact]
    public void IdleEngine_PublishesNothing()
    {
        (EngineCore engine, ListSink sink) = NewEngine();
        SimRequest r = Request("tiny", maxTokens: 5);   // no full block: nothing to store
        engine.Submit(r, 0);
        engine.RunUntilIdle();
        Assert.Empty(sink.Batches);
    }
}
