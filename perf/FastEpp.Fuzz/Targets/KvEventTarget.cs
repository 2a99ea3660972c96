using FastEpp.Prefix.Precise;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// vLLM KV-event payloads (Prefix/Precise: KvEventDecoder + KvEventIngestor), seeded with the golden fixtures of
/// spec routing.md §1.4. Properties: only KvEventFormatException escapes the decoder; a warm decoder (grown buffers)
/// delivers exactly what a fresh one delivers; applying the payload to a small index never throws and never holds
/// more keys than its capacity.
/// </summary>
internal sealed class KvEventTarget : FuzzTarget
{
    private const string Ts = "93cb41daa8dbe0359fe791";

    private static readonly string[] s_seeds =
    [
        Ts + "9bab426c6f636b53746f72656491cfdab89baa7b5857c0c094ce0002505ccd0368ccc6cd23680" + "4c0a3475055c091c000ae66756c6c5f617474656e74696f6e00",
        Ts + "8ba474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657391cfdab89baa7b5857c0b1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f69647394ce0002505ccd0368ccc6cd2368aa626c6f636b5f73697a6504a76c6f72615f6964c0a66d656469756da3475055a96c6f72615f6e616d65c0aa65787472615f6b65797391c0a967726f75705f69647800b26b765f63616368655f737065635f6b696e64ae66756c6c5f617474656e74696f6e00",
        Ts + "94ac426c6f636b52656d6f76656491cfdab89baa7b5857c0a34750550000",
        Ts + "84a474797065ac426c6f636b52656d6f766564ac626c6f636b5f68617368657391cfdab89baa7b5857c0a66d656469756da3475055a967726f75705f6964780000",
        Ts + "91b0416c6c426c6f636b73436c656172656400",
        Ts + "81a474797065b0416c6c426c6f636b73436c656172656400",
    ];

    private readonly KvEventDecoder _warm = new();
    private readonly PreciseIndex _index = new(256);
    private readonly KvEventIngestor _ingestor;
    private readonly EndpointStream _stream = new(1, "10.0.0.1:8000");
    private ulong _seq;

    public KvEventTarget() => _ingestor = new KvEventIngestor(_index, 4, TokenBlockKeys.Root(""u8), new PreciseCounters());

    public override string Name => "kv-events";

    public override string Property =>
        "only KvEventFormatException escapes; a warm decoder delivers what a fresh one does; the index never exceeds its capacity";

    public override IEnumerable<byte[]> ExtraSeeds() => s_seeds.Select(Convert.FromHexString);

    private sealed class Log : IKvEventSink
    {
        public readonly System.Text.StringBuilder Text = new();

        public void BlockStored(in BlockStoredEvent e)
        {
            Text.Append("S:").Append(e.BlockSize).Append(':').Append(e.HasParent ? e.ParentHash : 0).Append(':');
            foreach (ulong h in e.EngineHashes) Text.Append(h).Append(',');
            foreach (uint t in e.TokenIds) Text.Append(t).Append(',');
            foreach (int x in e.Extras) Text.Append(x).Append(',');
            Text.Append(Convert.ToHexString(e.Medium)).Append(Convert.ToHexString(e.LoraName)).Append(Convert.ToHexString(e.SpecKind)).Append(';');
        }

        public void BlockRemoved(ReadOnlySpan<ulong> engineHashes, ReadOnlySpan<byte> medium)
        {
            Text.Append("R:");
            foreach (ulong h in engineHashes) Text.Append(h).Append(',');
            Text.Append(Convert.ToHexString(medium)).Append(';');
        }

        public void AllBlocksCleared() => Text.Append("C;");
    }

    public override int Run(byte[] input)
    {
        var fresh = new Log();
        var warm = new Log();
        int outcome;
        string? freshError = null, warmError = null;
        try
        {
            outcome = new KvEventDecoder().Decode(input, fresh) + 1;
        }
        catch (KvEventFormatException e)
        {
            freshError = e.Message;
            outcome = 0;
        }
        try
        {
            _warm.Decode(input, warm);
        }
        catch (KvEventFormatException e)
        {
            warmError = e.Message;
        }
        Check(freshError == warmError && fresh.Text.ToString() == warm.Text.ToString(),
            $"a warm decoder differs from a fresh one: {freshError ?? fresh.Text.ToString()} vs {warmError ?? warm.Text.ToString()}");
        _ingestor.Apply(_stream, "kv@10.0.0.1:8000@m"u8, _seq++, input);
        Check(_index.KeyCount <= _index.Capacity, $"the index holds {_index.KeyCount} keys, more than its capacity {_index.Capacity}");
        return Math.Min(outcome, 8) | (fresh.Text.Length > 0 ? 16 : 0);
    }
}
