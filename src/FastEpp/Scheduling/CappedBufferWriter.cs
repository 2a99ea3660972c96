using System.Buffers;

namespace FastEpp.Scheduling;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> that keeps only the first <see cref="Cap"/> bytes and counts the rest
/// (the prefix hasher only needs maxBlocks × C bytes plus the total length). Grow-only buffers, reused.
/// </summary>
internal sealed class CappedBufferWriter : IBufferWriter<byte>
{
    private byte[] _buffer = new byte[1024];
    private byte[] _discard = new byte[256];
    private int _kept;
    private long _total;

    public int Cap { get; private set; }

    /// <summary>Bytes offered so far (kept or not).</summary>
    public long TotalLength => _total;

    public ReadOnlySpan<byte> Kept => _buffer.AsSpan(0, _kept);

    public void Reset(int cap)
    {
        Cap = Math.Max(0, cap);
        _kept = 0;
        _total = 0;
    }

    public void Advance(int count)
    {
        _total += count;
        if (_kept < Cap)
            _kept = Math.Min(Cap, _kept + count);
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        int want = Math.Max(sizeHint, 16);
        if (_kept < Cap)
        {
            EnsureRoom(want);
            return _buffer.AsMemory(_kept);
        }
        if (_discard.Length < want)
            _discard = new byte[Math.Max(want, _discard.Length * 2)];
        return _discard;
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    private void EnsureRoom(int want)
    {
        if (_buffer.Length - _kept < want)
            Array.Resize(ref _buffer, Math.Max(_kept + want, _buffer.Length * 2));
    }
}
