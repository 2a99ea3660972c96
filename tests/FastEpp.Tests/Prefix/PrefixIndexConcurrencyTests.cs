using System.Collections.Concurrent;
using FastEpp.Prefix;

namespace FastEpp.Tests.Prefix;

/// <summary>
/// Many readers, writers and endpoint churn at once. Each writer owns its endpoint ids, so the final state is
/// determined by each writer's own operation log; replaying the logs into the locked reference model must give
/// identical contents. While running, readers check invariants that hold in every state the index can pass through.
/// </summary>
public sealed class PrefixIndexConcurrencyTests
{
    private const int StableCount = 4;
    private const int StableBase = 1000;
    private const int StableLength = 48;

    [Theory]
    [InlineData(1, 11)]   // two shards: heavy writer contention, frequent rehashes
    [InlineData(6, 12)]
    [InlineData(3, 13)]
    public void ReadersWritersAndChurn_NeverShowImpossibleCountsAndEndInTheModelState(int shardBits, int seed)
    {
        var setupRng = new Random(seed);
        var index = new PrefixIndex(shardBits);
        ulong[][] stableChains = new ulong[StableCount][];
        for (int s = 0; s < StableCount; s++)
        {
            stableChains[s] = RandomChain(setupRng, StableLength);
            index.Record(stableChains[s], StableBase + s, 1_000_000);
        }
        // Writers also record the stable chains on their own endpoints, so those hashes' memberships keep
        // growing past three holders (bitsets) and shrinking again while readers walk them.
        ulong[][] chains = [.. TestChains.Build(setupRng, chainCount: 80, families: 5), .. stableChains];
        ulong[] absent = RandomChain(setupRng, 20);
        int[] stableIds = Enumerable.Range(StableBase, StableCount).ToArray();

        const int writerCount = 3, readerCount = 2, opsPerWriter = 1500;
        int[][] writerIds = Enumerable.Range(0, writerCount)
            .Select(w => Enumerable.Range(1 + w * 20, 12).ToArray()).ToArray();
        int[] churnIds = Enumerable.Range(200, 10).ToArray();
        int[] contestedIds = Enumerable.Range(300, 3).ToArray();
        int[] universe = [.. writerIds.SelectMany(x => x), .. churnIds, .. contestedIds, .. stableIds, 5000];

        var logs = new ConcurrentBag<List<Action<ReferencePrefixModel>>>();
        var failures = new ConcurrentQueue<string>();
        int writersRunning = writerCount + 2;
        using var start = new Barrier(writerCount + 3 + readerCount);
        var threads = new List<Thread>();

        for (int w = 0; w < writerCount; w++)
        {
            int writer = w;
            threads.Add(new Thread(() =>
            {
                var rng = new Random(seed * 100 + writer);
                var log = new List<Action<ReferencePrefixModel>>();
                start.SignalAndWait();
                for (int op = 0; op < opsPerWriter; op++)
                {
                    int id = writerIds[writer][rng.Next(writerIds[writer].Length)];
                    if (rng.Next(100) < 92)
                    {
                        ulong[] chain = chains[rng.Next(chains.Length)];
                        int capacity = 1 + rng.Next(60);
                        index.Record(chain, id, capacity);
                        log.Add(m => m.Record(chain, id, capacity));
                    }
                    else
                    {
                        index.RemoveEndpoint(id);
                        log.Add(m => m.Remove(id));
                    }
                }
                logs.Add(log);
                Interlocked.Decrement(ref writersRunning);
            }));
        }

        // Churn: endpoints appear, then disappear through Retain (the cleanup loop's call) or RemoveEndpoint.
        threads.Add(new Thread(() =>
        {
            var rng = new Random(seed * 100 + 99);
            var log = new List<Action<ReferencePrefixModel>>();
            start.SignalAndWait();
            for (int round = 0; round < 300; round++)
            {
                foreach (int id in churnIds)
                {
                    if (rng.Next(2) == 0)
                        continue;
                    ulong[] chain = chains[rng.Next(chains.Length)];
                    int capacity = 5 + rng.Next(100);
                    index.Record(chain, id, capacity);
                    log.Add(m => m.Record(chain, id, capacity));
                }
                int victim = churnIds[rng.Next(churnIds.Length)];
                if (rng.Next(2) == 0)
                {
                    int[] live = universe.Where(id => id != victim).ToArray();
                    index.Retain(live);
                }
                else
                {
                    index.RemoveEndpoint(victim);
                }
                log.Add(m => m.Remove(victim));
            }
            logs.Add(log);
            Interlocked.Decrement(ref writersRunning);
        }));

        // Contested ids: Record and RemoveEndpoint race on the same endpoint (PreRequest vs pod deletion).
        // They are removed for good at the end, so whatever interleaving happened they must leave nothing behind.
        threads.Add(new Thread(() =>
        {
            var rng = new Random(seed * 100 + 77);
            start.SignalAndWait();
            for (int op = 0; op < 20_000; op++)
                index.Record(chains[rng.Next(chains.Length)], contestedIds[rng.Next(contestedIds.Length)], 1 + rng.Next(50));
            Interlocked.Decrement(ref writersRunning);
        }));
        threads.Add(new Thread(() =>
        {
            var rng = new Random(seed * 100 + 78);
            start.SignalAndWait();
            while (Volatile.Read(ref writersRunning) > 0)
            {
                index.RemoveEndpoint(contestedIds[rng.Next(contestedIds.Length)]);
            }
        }));

        for (int r = 0; r < readerCount; r++)
        {
            int reader = r;
            threads.Add(new Thread(() =>
            {
                var rng = new Random(seed * 100 + 50 + reader);
                var counts = new int[universe.Length];
                var stableCounts = new int[StableCount];
                start.SignalAndWait();
                while (Volatile.Read(ref writersRunning) > 0 && failures.IsEmpty)
                {
                    // Any chain, any candidates: counts within [0, walked], walked within the chain.
                    ulong[] chain = chains[rng.Next(chains.Length)];
                    int walked = index.Match(chain, universe, counts);
                    if (walked < 0 || walked > chain.Length)
                        failures.Enqueue($"walked {walked} of {chain.Length}");
                    for (int i = 0; i < universe.Length; i++)
                    {
                        if (counts[i] < 0 || counts[i] > walked)
                            failures.Enqueue($"count {counts[i]} for {universe[i]} above walked {walked}");
                    }

                    // Stable endpoints hold their whole chain the whole time and nothing of the others':
                    // no rehash, spill or churn may hide a block or attribute one to the wrong slot.
                    int s = rng.Next(StableCount);
                    walked = index.Match(stableChains[s], stableIds, stableCounts);
                    if (walked != StableLength)
                        failures.Enqueue($"stable chain {s}: walked {walked}");
                    for (int t = 0; t < StableCount; t++)
                    {
                        int expected = t == s ? StableLength : 0;
                        if (stableCounts[t] != expected)
                            failures.Enqueue($"stable chain {s}: endpoint {t} counted {stableCounts[t]}, expected {expected}");
                    }

                    if (index.Match(absent, universe, counts) != 0 || counts.Any(c => c != 0))
                        failures.Enqueue("a never-recorded chain matched");
                    if (index.EntryCount < 0)
                        failures.Enqueue($"negative entry count {index.EntryCount}");
                }
            }));
        }

        foreach (Thread t in threads)
            t.Start();
        foreach (Thread t in threads)
            t.Join();

        Assert.Empty(failures);
        foreach (int id in contestedIds)
            index.RemoveEndpoint(id);

        var model = new ReferencePrefixModel();
        for (int s = 0; s < StableCount; s++)
            model.Record(stableChains[s], StableBase + s, 1_000_000);
        foreach (List<Action<ReferencePrefixModel>> log in logs)
        {
            foreach (Action<ReferencePrefixModel> op in log)
                op(model);
        }
        PrefixIndexTests.AssertSameContents(model, index, [.. chains, absent], universe);
    }

    private static ulong[] RandomChain(Random rng, int length)
    {
        var chain = new ulong[length];
        for (int i = 0; i < length; i++)
            chain[i] = (ulong)rng.NextInt64() | 1;
        return chain;
    }
}
