using System.Text;
using System.Text.Json;

namespace FastEpp.Tests.Common;

/// <summary>
/// A thread-safe sink for the zap logger's output stream: the tests that check log lines read the complete lines
/// written so far, as text or parsed as JSON.
/// </summary>
internal sealed class LogCapture : Stream
{
    private readonly Lock _lock = new();
    private readonly MemoryStream _bytes = new();

    /// <summary>The complete lines written so far.</summary>
    public string[] Lines
    {
        get
        {
            lock (_lock)
                return Encoding.UTF8.GetString(_bytes.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    /// <summary>Every line parsed as JSON (the default zap encoder).</summary>
    public JsonElement[] JsonLines => Lines.Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();

    /// <summary>The JSON lines whose <c>msg</c> is <paramref name="msg"/>.</summary>
    public JsonElement[] With(string msg) => JsonLines.Where(l => l.GetProperty("msg").GetString() == msg).ToArray();

    public bool Contains(string text) => Lines.Any(l => l.Contains(text, StringComparison.Ordinal));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_lock)
            _bytes.Write(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Flush() { }
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
