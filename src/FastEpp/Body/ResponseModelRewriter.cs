using System.Buffers;
using System.Text;

namespace FastEpp.Body;

/// <summary>
/// Response model-name rewrite (spec extproc.md §2.9; reference <c>handlers/server.go</c> rewriteModelName):
/// plain byte replacement of <c>"model":"&lt;target&gt;"</c> by <c>"model":"&lt;incoming&gt;"</c>; only
/// if that changes nothing, the variant with one space after the colon. No JSON parsing, names inserted
/// as they are (not escaped), Content-Length not adjusted.
/// </summary>
internal static class ResponseModelRewriter
{
    private const int StackLimit = 512;

    /// <summary>
    /// Writes the rewritten chunk to <paramref name="output"/> and returns true; returns false (and writes
    /// nothing) when nothing would change, so the caller forwards the original bytes.
    /// </summary>
    public static bool RewriteModelInResponse(ReadOnlySpan<byte> chunk, string target, string incoming, IBufferWriter<byte> output)
    {
        if (string.IsNullOrEmpty(target) || string.IsNullOrEmpty(incoming) || target == incoming || chunk.IsEmpty)
        {
            return false;
        }

        int targetMax = Encoding.UTF8.GetMaxByteCount(target.Length) + 11;
        int incomingMax = Encoding.UTF8.GetMaxByteCount(incoming.Length) + 11;
        byte[]? rentedOld = null;
        byte[]? rentedNew = null;
        Span<byte> oldBuf = targetMax <= StackLimit ? stackalloc byte[StackLimit] : (rentedOld = ArrayPool<byte>.Shared.Rent(targetMax));
        Span<byte> newBuf = incomingMax <= StackLimit ? stackalloc byte[StackLimit] : (rentedNew = ArrayPool<byte>.Shared.Rent(incomingMax));
        try
        {
            ReadOnlySpan<byte> oldPattern = Pattern(oldBuf, target, space: false);
            if (chunk.IndexOf(oldPattern) >= 0)
            {
                ReplaceAll(chunk, oldPattern, Pattern(newBuf, incoming, space: false), output);
                return true;
            }

            oldPattern = Pattern(oldBuf, target, space: true);
            if (chunk.IndexOf(oldPattern) >= 0)
            {
                ReplaceAll(chunk, oldPattern, Pattern(newBuf, incoming, space: true), output);
                return true;
            }

            return false;
        }
        finally
        {
            if (rentedOld is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedOld);
            }

            if (rentedNew is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedNew);
            }
        }
    }

    /// <summary><c>"model":"name"</c> or <c>"model": "name"</c> in <paramref name="buffer"/>.</summary>
    private static ReadOnlySpan<byte> Pattern(Span<byte> buffer, string name, bool space)
    {
        ReadOnlySpan<byte> head = space ? "\"model\": \""u8 : "\"model\":\""u8;
        head.CopyTo(buffer);
        int n = head.Length + Encoding.UTF8.GetBytes(name, buffer[head.Length..]);
        buffer[n++] = (byte)'"';
        return buffer[..n];
    }

    /// <summary>Go bytes.ReplaceAll: non-overlapping matches, left to right.</summary>
    private static void ReplaceAll(ReadOnlySpan<byte> source, ReadOnlySpan<byte> oldValue, ReadOnlySpan<byte> newValue, IBufferWriter<byte> output)
    {
        while (true)
        {
            int at = source.IndexOf(oldValue);
            if (at < 0)
            {
                output.Write(source);
                return;
            }

            output.Write(source[..at]);
            output.Write(newValue);
            source = source[(at + oldValue.Length)..];
        }
    }
}
