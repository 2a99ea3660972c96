using System.Text;
using FastEpp.Prefix.Precise;
using static FastEpp.Tests.Prefix.Precise.MsgPackTestWriter;

namespace FastEpp.Tests.Prefix.Precise;

/// <summary>
/// vLLM's KVEventBatch wire format (spec routing.md §1.3–§1.4): golden byte fixtures per event type in both event
/// encodings (legacy array, vLLM ≥ 0.26 map), every int width, hashes as bytes, older and newer field sets, and
/// malformed input that must fail as a format error, never as a crash.
/// </summary>
public sealed class KvEventDecoderTests
{
    private const ulong Hash = 15760518052499183552;
    private static readonly uint[] s_tokens = [151644, 872, 198, 9064];

    // routing.md §1.4: the legacy array payload, 75 bytes.
    internal const string StoredArrayHex = """
        93 cb 41 da a8 db e0 35 9f e7 91 9b ab 42 6c 6f 63 6b 53 74 6f 72 65 64
        91 cf da b8 9b aa 7b 58 57 c0 c0 94 ce 00 02 50 5c cd 03 68 cc c6 cd 23 68 04
        c0 a3 47 50 55 c0 91 c0 00 ae 66 75 6c 6c 5f 61 74 74 65 6e 74 69 6f 6e 00
        """;

    // routing.md §1.4: the map payload (vLLM ≥ 0.26, the shape of the kthena#1535 capture), 197 bytes.
    internal const string StoredMapHex = """
        93cb41daa8dbe0359fe7918ba474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657391cfdab89baa7b5857c0
        b1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f69647394ce0002505ccd0368ccc6cd2368aa626c6f636b5f73697a6504
        a76c6f72615f6964c0a66d656469756da3475055a96c6f72615f6e616d65c0aa65787472615f6b65797391c0a967726f75705f69647800
        b26b765f63616368655f737065635f6b696e64ae66756c6c5f617474656e74696f6e00
        """;

    internal const string RemovedArrayHex = "93cb41daa8dbe0359fe79194ac426c6f636b52656d6f76656491cfdab89baa7b5857c0a34750550000";
    internal const string RemovedMapHex = "93cb41daa8dbe0359fe79184a474797065ac426c6f636b52656d6f766564ac626c6f636b5f68617368657391cfdab89baa7b5857c0a66d656469756da3475055a967726f75705f6964780000";
    internal const string ClearedArrayHex = "93cb41daa8dbe0359fe79191b0416c6c426c6f636b73436c656172656400";
    internal const string ClearedMapHex = "93cb41daa8dbe0359fe79181a474797065b0416c6c426c6f636b73436c656172656400";

    /// <summary>Records what the decoder delivers (copies, since the spans die after the callback).</summary>
    internal sealed class RecordingSink : IKvEventSink
    {
        public readonly List<string> Log = [];
        public readonly List<(ulong[] Hashes, ulong? Parent, uint[] Tokens, int BlockSize, string Lora, string Medium, string Kind, int Group, string[] Extras)> Stored = [];
        public readonly List<ulong[]> Removed = [];

        public void BlockStored(in BlockStoredEvent e)
        {
            var extras = new List<string>();
            for (int i = 0; i < e.Extras.Length; i += 3)
                extras.Add($"{e.Extras[i]}:{Encoding.UTF8.GetString(e.Payload.Slice(e.Extras[i + 1], e.Extras[i + 2]))}");
            Stored.Add((e.EngineHashes.ToArray(), e.HasParent ? e.ParentHash : null, e.TokenIds.ToArray(), e.BlockSize,
                Encoding.UTF8.GetString(e.LoraName), Encoding.UTF8.GetString(e.Medium), Encoding.UTF8.GetString(e.SpecKind), e.GroupIdx, [.. extras]));
            Log.Add("stored");
        }

        public void BlockRemoved(ReadOnlySpan<ulong> engineHashes, ReadOnlySpan<byte> medium)
        {
            Removed.Add(engineHashes.ToArray());
            Log.Add("removed:" + Encoding.UTF8.GetString(medium));
        }

        public void AllBlocksCleared() => Log.Add("cleared");
    }

    private static RecordingSink Decode(byte[] payload, int expectedEvents)
    {
        var sink = new RecordingSink();
        Assert.Equal(expectedEvents, new KvEventDecoder().Decode(payload, sink));
        return sink;
    }

    [Theory]
    [InlineData(StoredArrayHex, 75)]
    [InlineData(StoredMapHex, 197)]
    public void GoldenBlockStored_ArrayAndMapEncodings_DecodeToTheSameEvent(string hex, int length)
    {
        byte[] payload = Hex(hex);
        Assert.Equal(length, payload.Length);
        var sink = Decode(payload, 1);
        var e = Assert.Single(sink.Stored);
        Assert.Equal([Hash], e.Hashes);
        Assert.Null(e.Parent);
        Assert.Equal(s_tokens, e.Tokens);
        Assert.Equal(4, e.BlockSize);
        Assert.Equal("", e.Lora);
        Assert.Equal("GPU", e.Medium);
        Assert.Equal("full_attention", e.Kind);
        Assert.Equal(0, e.Group);
        Assert.Empty(e.Extras);
    }

    [Theory]
    [InlineData(RemovedArrayHex)]
    [InlineData(RemovedMapHex)]
    public void GoldenBlockRemoved_ArrayAndMapEncodings(string hex)
    {
        var sink = Decode(Hex(hex), 1);
        Assert.Equal(["removed:GPU"], sink.Log);
        Assert.Equal([Hash], Assert.Single(sink.Removed));
    }

    [Theory]
    [InlineData(ClearedArrayHex)]
    [InlineData(ClearedMapHex)]
    public void GoldenAllBlocksCleared_ArrayAndMapEncodings(string hex) =>
        Assert.Equal(["cleared"], Decode(Hex(hex), 1).Log);

    [Fact]
    public void TestWriter_ProducesTheGoldenLegacyBytes()
    {
        // The test-side writer (used by the ingestion and end-to-end tests) writes exactly the golden fixture.
        var w = new MsgPackTestWriter().Batch(1);
        w.Array(11).Str("BlockStored").Array(1).UInt(Hash).Nil().Array(4);
        foreach (uint t in s_tokens) w.UInt(t);
        w.UInt(4).Nil().Str("GPU").Nil().Array(1).Nil().UInt(0).Str("full_attention").EndBatch();
        Assert.Equal(Hex(StoredArrayHex), w.ToArray());
    }

    [Fact]
    public void EveryIntWidth_NegativeInts_AndBinaryHashes_AreAccepted()
    {
        byte[] digest = new byte[32];
        for (int i = 0; i < 32; i++) digest[i] = (byte)i;
        var w = new MsgPackTestWriter().Batch(2);
        // Hashes: fixint, u8, u16, u32, u64, i8 (-1 → all ones), i64, and 32 raw digest bytes (last 8, big-endian).
        w.Array(4).Str("BlockRemoved").Array(8)
            .Raw(0x05).Raw(0xcc, 0xff).Raw(0xcd, 0x01, 0x00).Raw(0xce, 0x01, 0x00, 0x00, 0x00)
            .Raw(0xcf, 0x80, 0, 0, 0, 0, 0, 0, 1).Raw(0xd0, 0xff).Raw(0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)
            .Bin(digest).Str("GPU").Raw(0xd1, 0x00, 0x02);
        // Tokens in u16/u32 forms and a block size as i32.
        w.Array(6).Str("BlockStored").Array(1).UInt(7).Raw(0xd2, 0, 0, 0, 9).Array(2).Raw(0xcd, 0x01, 0x00).Raw(0xd2, 0, 1, 0, 0).Raw(0xd2, 0, 0, 0, 2).Nil();
        w.EndBatch();
        var sink = Decode(w.ToArray(), 2);
        Assert.Equal(new ulong[] { 5, 255, 256, 1UL << 24, 0x8000000000000001, ulong.MaxValue, ulong.MaxValue - 1, 0x18191a1b1c1d1e1f }, sink.Removed[0]);
        var e = Assert.Single(sink.Stored);
        Assert.Equal(9UL, e.Parent);
        Assert.Equal(new uint[] { 256, 65536 }, e.Tokens);
        Assert.Equal(2, e.BlockSize);
        Assert.Equal("", e.Medium); // legacy 5-field event: medium absent
    }

    [Fact]
    public void OldTwoElementBatch_MapBatch_UnknownEvents_AndNewerFields_AreHandled()
    {
        // vLLM before #18925: [ts, events] without the rank.
        var old = new MsgPackTestWriter().Array(2).Float64(1.5).Array(1).AllBlocksCleared().ToArray();
        Assert.Equal(["cleared"], Decode(old, 1).Log);

        // A batch encoded as a map (stored copy 0181ea31), an unknown event type, and map events with fields from
        // newer vLLM versions (locality, ownership, event_version, sliding window) in any order.
        var w = new MsgPackTestWriter().Map(3).Str("ts").Float64(2.0).Str("events").Array(3);
        w.Array(2).Str("SomethingNew").UInt(3);
        w.Map(9).Str("block_size").UInt(2).Str("type").Str("BlockStored").Str("locality").Str("LOCAL").Str("ownership").Str("x")
            .Str("token_ids").Array(2).UInt(1).UInt(2).Str("block_hashes").Array(1).UInt(11).Str("parent_block_hash").Nil()
            .Str("kv_cache_spec_sliding_window").Nil().Str("lora_name").Str("adapter-1");
        w.Map(4).Str("type").Str("BlockRemoved").Str("block_hashes").Array(1).UInt(11).Str("medium").Str("CPU").Str("locality").Str("REMOTE");
        w.Str("data_parallel_rank").UInt(0);
        var decoder = new KvEventDecoder();
        var sink = new RecordingSink();
        Assert.Equal(3, decoder.Decode(w.ToArray(), sink));
        Assert.Equal(["stored", "removed:CPU"], sink.Log);
        Assert.Equal(1, decoder.UnknownEvents);
        Assert.Equal("adapter-1", sink.Stored[0].Lora);
    }

    [Fact]
    public void ExtraKeys_BareStringsTuplesAndMultimodalPairs_ArePerBlock()
    {
        var w = new MsgPackTestWriter().Batch(1);
        w.Array(9).Str("BlockStored").Array(3).UInt(1).UInt(2).UInt(3).Nil().Array(6).UInt(1).UInt(2).UInt(3).UInt(4).UInt(5).UInt(6)
            .UInt(2).Nil().Str("GPU").Str("lora-a")
            .Array(3)
                .Array(2).Str("lora-a").Str("salt-1")           // block 0: LoRA name + cache salt
                .Nil()                                          // block 1: nothing
                .Array(1).Array(2).Str("mmhash").UInt(4);       // block 2: (mm identifier, offset)
        w.EndBatch();
        var e = Assert.Single(Decode(w.ToArray(), 1).Stored);
        Assert.Equal(["0:lora-a", "0:salt-1", "2:mmhash"], e.Extras);
    }

    [Theory]
    [InlineData("")]                                   // empty
    [InlineData("93cb41daa8dbe0359fe7")]               // batch without events
    [InlineData("93cb41daa8dbe0359fe791")]             // events array cut short
    [InlineData("c1")]                                  // never-used format byte
    [InlineData("93cb41daa8dbe0359fe791dd7fffffff")]   // an array claiming 2^31 elements
    [InlineData("93cb41daa8dbe0359fe7919103")]         // an event whose tag is not a string
    [InlineData("93cb41daa8dbe0359fe79192ab426c6f636b53746f72656490")] // BlockStored without its fields
    [InlineData("93cb41daa8dbe0359fe79191b0416c6c426c6f636b73436c6561726564000000")] // trailing bytes
    public void MalformedPayloads_FailAsFormatErrors(string hex) =>
        Assert.Throws<KvEventFormatException>(() => new KvEventDecoder().Decode(Hex(hex), new RecordingSink()));

    [Fact]
    public void EveryTruncationAndEveryByteFlip_OfTheGoldenFixtures_NeverEscapesAsAnotherException()
    {
        foreach (string hex in new[] { StoredArrayHex, StoredMapHex, RemovedArrayHex, ClearedMapHex })
        {
            byte[] golden = Hex(hex);
            var decoder = new KvEventDecoder();
            for (int cut = 0; cut < golden.Length; cut++)
                Assert.Throws<KvEventFormatException>(() => decoder.Decode(golden.AsSpan(0, cut), new RecordingSink()));
            for (int i = 0; i < golden.Length; i++)
            {
                foreach (byte flip in new byte[] { 0x00, 0xff, 0xc1, 0xdd, 0x9f, (byte)(golden[i] ^ 0x10) })
                {
                    byte[] mutated = (byte[])golden.Clone();
                    mutated[i] = flip;
                    try
                    {
                        decoder.Decode(mutated, new RecordingSink());
                    }
                    catch (KvEventFormatException)
                    {
                    }
                }
            }
        }
    }
}
