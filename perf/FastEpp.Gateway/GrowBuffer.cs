using System.Buffers;

namespace FastEpp.Gateway;

/// <summary>An append-only byte buffer rented from <see cref="ArrayPool{T}"/>; holds a request body.</summary>
internal sealed class GrowBuffer : IDisposable
{
    private byte[] _buffer;

    public GrowBuffer(int initialCapacity) => _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 256));

    /// <summary>Bytes written so far.</summary>
    public int Length { get; private set; }

    /// <summary>The written bytes.</summary>
    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, Length);

    /// <summary>Space for at least <paramref name="size"/> more bytes (exactly that many).</summary>
    public Memory<byte> GetMemory(int size)
    {
        if (_buffer.Length - Length < size)
        {
            // Earlier slices handed out were already serialized into gRPC frames, so returning the old array is safe.
            byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, Length + size));
            _buffer.AsSpan(0, Length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        return _buffer.AsMemory(Length, size);
    }

    /// <summary>Commits <paramref name="count"/> bytes written into the last <see cref="GetMemory"/>.</summary>
    public void Advance(int count) => Length += count;

    /// <summary>A slice of the written bytes.</summary>
    public ReadOnlyMemory<byte> Slice(int start, int length) => _buffer.AsMemory(start, length);

    public void Dispose()
    {
        byte[] b = _buffer;
        _buffer = [];
        Length = 0;
        if (b.Length > 0)
            ArrayPool<byte>.Shared.Return(b);
    }
}
