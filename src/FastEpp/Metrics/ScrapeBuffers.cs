using System.Buffers;

namespace FastEpp.Metrics;

/// <summary>
/// Scrape body buffers. Up to <see cref="PooledMaxBytes"/> they come from <see cref="ArrayPool{T}.Shared"/> (a normal
/// vLLM page is 10–300 KB: no allocation per scrape). Larger ones, which only an unusually large, a broken or a hostile
/// /metrics answer needs (up to the 16 MiB cap), are plain allocations the GC takes back: pooled, each endless body
/// would park 1–16 MiB arrays in the process-wide pool for good (the chaos run measured +127 MiB RSS).
/// </summary>
internal static class ScrapeBuffers
{
    /// <summary>The largest buffer kept in the shared pool.</summary>
    public const int PooledMaxBytes = 1 << 20;

    public static byte[] Rent(int minimumLength) =>
        minimumLength <= PooledMaxBytes ? ArrayPool<byte>.Shared.Rent(minimumLength) : GC.AllocateUninitializedArray<byte>(minimumLength);

    public static void Return(byte[] buffer)
    {
        if (buffer.Length <= PooledMaxBytes)
            ArrayPool<byte>.Shared.Return(buffer);
    }
}
