using System.Buffers;
using System.Text;

namespace FastEpp.Tests.Body;

/// <summary>Builds multi-segment sequences the way Envoy chunks arrive (each chunk its own array).</summary>
internal static class SequenceFactory
{
    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public static ReadOnlySequence<byte> Single(byte[] data) => new(data);

    /// <summary>Fixed-size segments (the last one may be shorter).</summary>
    public static ReadOnlySequence<byte> Chunked(byte[] data, int segmentSize)
    {
        var lengths = new List<int>();
        for (int i = 0; i < data.Length; i += segmentSize)
        {
            lengths.Add(Math.Min(segmentSize, data.Length - i));
        }

        return FromLengths(data, lengths);
    }

    /// <summary>Random segment sizes in [0, maxSegment] (empty segments included on purpose).</summary>
    public static ReadOnlySequence<byte> Random(byte[] data, Random rng, int maxSegment)
    {
        var lengths = new List<int>();
        int left = data.Length;
        while (left > 0)
        {
            int n = Math.Min(left, rng.Next(0, maxSegment + 1));
            lengths.Add(n);
            left -= n;
        }

        return FromLengths(data, lengths);
    }

    public static ReadOnlySequence<byte> FromLengths(byte[] data, IReadOnlyList<int> lengths)
    {
        if (lengths.Count == 0)
        {
            return new ReadOnlySequence<byte>(Array.Empty<byte>());
        }

        Segment? first = null;
        Segment? last = null;
        int offset = 0;
        foreach (int n in lengths)
        {
            // Copy so that no segment can see its neighbours' bytes.
            var seg = new Segment(data.AsSpan(offset, n).ToArray());
            offset += n;
            if (first is null)
            {
                first = seg;
            }
            else
            {
                last!.Append(seg);
            }

            last = seg;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    public static byte[] ToArray(in ReadOnlySequence<byte> seq) => seq.ToArray();

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data) => Memory = data;

        public void Append(Segment next)
        {
            next.RunningIndex = RunningIndex + Memory.Length;
            Next = next;
        }
    }
}
