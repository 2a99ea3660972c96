using System.Diagnostics;
using System.Globalization;
using FastEpp.Prefix;

/// <summary>
/// <c>fastepp-soak --prefix-index [--endpoints N] [--capacity C] [--sharing S] [--max-mib M]</c>: the approximate prefix
/// index with N endpoints, each filled to its LRU capacity (default 31,250 blocks, the per-server default when the
/// server reports no cache size) and then driven 50% past it so every LRU evicts, as requests of 16 blocks
/// (chained hashes). With sharing S each request is also recorded on S−1 other endpoints (shared system prompts: overflow
/// bitsets). Prints RSS and GC heap before and after (after a full GC), the index's own estimate, and exit 1 when the
/// RSS growth exceeds M MiB (512).
/// </summary>
internal static class PrefixIndexRss
{
    public static int Run(string[] args)
    {
        int endpoints = 100, capacity = PrefixCacheParameters.DefaultLruCapacityPerServer, sharing = 1;
        double maxMiB = 512;
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--endpoints": endpoints = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--capacity": capacity = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--sharing": sharing = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--max-mib": maxMiB = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine("usage: fastepp-soak --prefix-index [--endpoints N] [--capacity C] [--sharing S] [--max-mib M]");
                    return 2;
            }
        }
        const double MiB = 1024 * 1024;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        double rss0 = Rss() / MiB, heap0 = GC.GetTotalMemory(true) / MiB;
        var sw = Stopwatch.StartNew();
        var index = new PrefixIndex();
        var rng = new Random(11);
        Span<ulong> chain = stackalloc ulong[16];
        long records = 0;
        int perEndpoint = capacity * 3 / 2 / chain.Length + 1; // 1.5 × capacity blocks each: every LRU full and evicting
        for (int round = 0; round < perEndpoint; round++)
        {
            for (int e = 0; e < endpoints; e++)
            {
                ulong h = (ulong)rng.NextInt64();
                for (int k = 0; k < chain.Length; k++)
                    chain[k] = h = h * 0x9E3779B97F4A7C15UL + (ulong)k + 1;
                for (int s = 0; s < sharing; s++)
                    index.Record(chain, (e + s * 7) % endpoints + 1, capacity);
                records++;
            }
        }
        double fill = sw.Elapsed.TotalSeconds;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        double rss1 = Rss() / MiB, heap1 = GC.GetTotalMemory(true) / MiB;
        GC.KeepAlive(index);
        double growth = rss1 - rss0;
        Console.WriteLine($"prefix index: {endpoints} endpoints × capacity {capacity:N0} blocks, sharing {sharing}; {records:N0} requests of {chain.Length} blocks recorded in {fill:0.0} s");
        Console.WriteLine($"entries (endpoint, block) {index.EntryCount:N0}, distinct hashes {index.DistinctHashCount:N0}; index estimate {index.ApproximateBytes / MiB:0.0} MiB");
        Console.WriteLine($"RSS {rss0:0.0} → {rss1:0.0} MiB (+{growth:0.0}); GC heap {heap0:0.0} → {heap1:0.0} MiB (+{heap1 - heap0:0.0})");
        bool ok = growth <= maxMiB;
        Console.WriteLine(ok ? $"PASS: RSS growth ≤ {maxMiB} MiB" : $"FAIL: RSS growth {growth:0.0} MiB > {maxMiB} MiB");
        return ok ? 0 : 1;
    }

    private static long Rss()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        return Environment.WorkingSet;
    }
}
