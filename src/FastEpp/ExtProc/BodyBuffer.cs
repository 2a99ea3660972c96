using System.Buffers;
using Google.Protobuf;

namespace FastEpp.ExtProc;

/// <summary>
/// The chunks of one body as Envoy sent them, kept as the received <see cref="ByteString"/>s (no copy)
/// and exposed as one <see cref="ReadOnlySequence{T}"/>. Segment objects are reused across requests
/// of the owning stream.
/// </summary>
internal sealed class BodyBuffer
{
    private readonly List<Segment> _segments = [];
    private int _count;

    public long Length { get; private set; }

    public void Append(ByteString chunk)
    {
        if (chunk.Length == 0)
            return;
        Segment seg;
        if (_count < _segments.Count)
            seg = _segments[_count];
        else
            _segments.Add(seg = new Segment());
        seg.Set(chunk, Length);
        if (_count > 0)
            _segments[_count - 1].SetNext(seg);
        _count++;
        Length += chunk.Length;
    }

    public ReadOnlySequence<byte> AsSequence()
    {
        if (_count == 0)
            return ReadOnlySequence<byte>.Empty;
        if (_count == 1)
            return new ReadOnlySequence<byte>(_segments[0].Memory);
        var last = _segments[_count - 1];
        last.SetNext(null);
        return new ReadOnlySequence<byte>(_segments[0], 0, last, last.Memory.Length);
    }

    public void Clear()
    {
        for (int i = 0; i < _count; i++)
            _segments[i].Reset();
        _count = 0;
        Length = 0;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public void Set(ByteString chunk, long runningIndex)
        {
            Memory = chunk.Memory;
            RunningIndex = runningIndex;
            Next = null;
        }

        public void SetNext(Segment? next) => Next = next;

        public void Reset()
        {
            Memory = default;
            Next = null;
        }
    }
}
