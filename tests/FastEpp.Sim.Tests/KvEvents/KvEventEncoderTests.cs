using FastEpp.Sim.KvEvents;

namespace FastEpp.Sim.Tests.KvEvents;

/// <summary>
/// Golden bytes per event type: the expected payloads are written out by hand from vLLM's msgspec encoding rules
/// (../shared/spec/routing.md §1.3–1.4; the first two are the spec's worked example byte for byte).
/// </summary>
public sealed class KvEventEncoderTests
{
    private const double Ts = 1789095808.8378847;
    private const ulong Hash = 15760518052499183552;   // 0xdab89baa7b5857c0
    private const string TsBytes = "cb 41 da a8 db e0 35 9f e7";
    private const string HashBytes = "cf da b8 9b aa 7b 58 57 c0";
    private const string Tokens4 = "94 ce 00 02 50 5c cd 03 68 cc c6 cd 23 68";   // [151644, 872, 198, 9064]

    private static BlockStored WorkedExampleStored() => new()
    {
        BlockHashes = [Hash],
        ParentBlockHash = null,
        TokenIds = [151644, 872, 198, 9064],
        BlockSize = 4,
    };

    private static byte[] Encode(KvCacheEvent e, KvEventEncoding encoding, bool intHashes = true)
    {
        var w = new MsgPackWriter();
        KvEventEncoder.Encode(w, new KvEventBatch { Timestamp = Ts, Events = [e] }, encoding, intHashes);
        return w.ToArray();
    }

    [Fact]
    public void BlockStored_Array_IsTheSpecWorkedExample()
    {
        byte[] expected = MsgPack.Golden($"""
            93 {TsBytes} 91
              9b ab "BlockStored" 91 {HashBytes} c0 {Tokens4} 04 c0 a3 "GPU" c0 91 c0 00 ae "full_attention"
            00
            """);
        Assert.Equal(75, expected.Length);
        Assert.Equal(MsgPack.Hex(expected), MsgPack.Hex(Encode(WorkedExampleStored(), KvEventEncoding.Array)));
    }

    [Fact]
    public void BlockStored_Map_IsTheSpecWorkedExample()
    {
        byte[] expected = MsgPack.Golden($"""
            93 {TsBytes} 91 8b
              a4 "type" ab "BlockStored"
              ac "block_hashes" 91 {HashBytes}
              b1 "parent_block_hash" c0
              a9 "token_ids" {Tokens4}
              aa "block_size" 04
              a7 "lora_id" c0
              a6 "medium" a3 "GPU"
              a9 "lora_name" c0
              aa "extra_keys" 91 c0
              a9 "group_idx" 00
              b2 "kv_cache_spec_kind" ae "full_attention"
            00
            """);
        Assert.Equal(197, expected.Length);
        Assert.Equal(MsgPack.Hex(expected), MsgPack.Hex(Encode(WorkedExampleStored(), KvEventEncoding.Map)));
    }

    [Fact]
    public void BlockStored_Adapter_WithParent_SmallHashes_Map()
    {
        var e = new BlockStored
        {
            BlockHashes = [5, 300],
            ParentBlockHash = 70000,
            TokenIds = [1, 2],
            BlockSize = 1,
            LoraId = 1,
            LoraName = "sql-lora",
        };
        byte[] expected = MsgPack.Golden($"""
            93 {TsBytes} 91 8b
              a4 "type" ab "BlockStored"
              ac "block_hashes" 92 05 cd 01 2c
              b1 "parent_block_hash" ce 00 01 11 70
              a9 "token_ids" 92 01 02
              aa "block_size" 01
              a7 "lora_id" 01
              a6 "medium" a3 "GPU"
              a9 "lora_name" a8 "sql-lora"
              aa "extra_keys" 92 91 a8 "sql-lora" 91 a8 "sql-lora"
              a9 "group_idx" 00
              b2 "kv_cache_spec_kind" ae "full_attention"
            00
            """);
        Assert.Equal(MsgPack.Hex(expected), MsgPack.Hex(Encode(e, KvEventEncoding.Map)));
    }

    [Fact]
    public void BlockStored_BytesHashes_AreEightByteBigEndianBin()
    {
        var e = new BlockStored { BlockHashes = [Hash], ParentBlockHash = 1, TokenIds = [7], BlockSize = 1 };
        byte[] expected = MsgPack.Golden($"""
            93 {TsBytes} 91
              9b ab "BlockStored" 91 c4 08 da b8 9b aa 7b 58 57 c0 c4 08 00 00 00 00 00 00 00 01 91 07 01 c0 a3 "GPU" c0 91 c0 00 ae "full_attention"
            00
            """);
        Assert.Equal(MsgPack.Hex(expected), MsgPack.Hex(Encode(e, KvEventEncoding.Array, intHashes: false)));
    }

    [Fact]
    public void BlockRemoved_ArrayAndMap()
    {
        var e = new BlockRemoved { BlockHashes = [Hash] };
        Assert.Equal(MsgPack.Hex(MsgPack.Golden($"""93 {TsBytes} 91 94 ac "BlockRemoved" 91 {HashBytes} a3 "GPU" 00 00""")),
            MsgPack.Hex(Encode(e, KvEventEncoding.Array)));
        Assert.Equal(MsgPack.Hex(MsgPack.Golden($"""
            93 {TsBytes} 91
              84 a4 "type" ac "BlockRemoved" ac "block_hashes" 91 {HashBytes} a6 "medium" a3 "GPU" a9 "group_idx" 00
            00
            """)), MsgPack.Hex(Encode(e, KvEventEncoding.Map)));
    }

    [Fact]
    public void AllBlocksCleared_ArrayAndMap()
    {
        Assert.Equal(MsgPack.Hex(MsgPack.Golden($"""93 {TsBytes} 91 91 b0 "AllBlocksCleared" 00""")),
            MsgPack.Hex(Encode(AllBlocksCleared.Instance, KvEventEncoding.Array)));
        Assert.Equal(MsgPack.Hex(MsgPack.Golden($"""93 {TsBytes} 91 81 a4 "type" b0 "AllBlocksCleared" 00""")),
            MsgPack.Hex(Encode(AllBlocksCleared.Instance, KvEventEncoding.Map)));
    }

    [Fact]
    public void Writer_UsesTheSmallestWidths_LikeMsgspec()
    {
        var w = new MsgPackWriter();
        foreach (ulong v in new ulong[] { 0, 127, 128, 255, 256, 65535, 65536, uint.MaxValue, (ulong)uint.MaxValue + 1 })
        {
            w.WriteUInt(v);
        }
        foreach (long v in new long[] { -1, -32, -33, -128, -129, -32768, -32769, int.MinValue, (long)int.MinValue - 1 })
        {
            w.WriteInt(v);
        }
        w.WriteString(new string('x', 31));
        w.WriteString(new string('y', 32));
        w.WriteArrayHeader(15);
        w.WriteArrayHeader(16);
        w.WriteMapHeader(16);
        string expected = MsgPack.Hex(MsgPack.Golden(
            "00 7f cc 80 cc ff cd 01 00 cd ff ff ce 00 01 00 00 ce ff ff ff ff cf 00 00 00 01 00 00 00 00 "
            + "ff e0 d0 df d0 80 d1 ff 7f d1 80 00 d2 ff ff 7f ff d2 80 00 00 00 d3 ff ff ff ff 7f ff ff ff "
            + "bf \"" + new string('x', 31) + "\" d9 20 \"" + new string('y', 32) + "\" 9f dc 00 10 de 00 10"));
        Assert.Equal(expected, MsgPack.Hex(w.Written));
    }

    [Fact]
    public void Decoder_ReadsBackWhatWasEncoded()
    {
        var batch = (List<object?>)MsgPack.Decode(Encode(WorkedExampleStored(), KvEventEncoding.Map))!;
        Assert.Equal(Ts, (double)batch[0]!);
        var e = (MsgPack.Map)((List<object?>)batch[1]!)[0]!;
        Assert.Equal("BlockStored", e["type"]);
        Assert.Equal(Hash, (ulong)((List<object?>)e["block_hashes"]!)[0]!);
        Assert.Equal(0UL, batch[2]);
    }
}
