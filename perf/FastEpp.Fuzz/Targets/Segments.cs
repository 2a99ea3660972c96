using System.Buffers;

namespace FastEpp.Fuzz.Targets;

/// <summary>Splits a byte array into a multi-segment sequence at the given cut points (as Envoy's body chunks arrive).</summary>
internal static class Segments
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>Cuts derived from the input itself (deterministic): every piece is 1..17 bytes, each a fresh array.</summary>
    public static ReadOnlySequence<byte> Chop(byte[] data, int salt)
    {
        if (data.Length < 2)
            return new ReadOnlySequence<byte>(data);
        var pieces = new List<byte[]>();
        int at = 0, i = salt;
        while (at < data.Length)
        {
            int len = Math.Min(data.Length - at, 1 + (int)((uint)(data[(at + i) % data.Length] * 31 + i) % 17));
            pieces.Add(data.AsSpan(at, len).ToArray());
            at += len;
            i++;
        }
        var first = new Segment(pieces[0], 0);
        var last = first;
        for (int k = 1; k < pieces.Count; k++)
            last = last.Append(pieces[k]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
