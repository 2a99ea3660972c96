using CommunityToolkit.HighPerformance.Buffers;
using FastEpp.Body;
using FastEpp.Endpoints;
using FastEpp.Prefix;

namespace FastEpp.Scheduling;

/// <summary>
/// The reference's built-in default profile (spec runtime.md §5.6, scheduling.md §1.5), fixed in code
/// until the EndpointPickerConfig loader lands: queue-scorer ×2, kv-cache-utilization-scorer ×2,
/// prefix-cache-scorer ×3 (fed by approx-prefix-cache-producer with default parameters), max-score-picker
/// with one endpoint and uniform random tie-breaking. Scores are clamped to [0,1] before weighting.
/// Per-request scratch is thread-local: Schedule and PreRequest run back to back on the stream's thread.
/// </summary>
internal sealed class DefaultProfileScheduler : IRequestScheduler
{
    private const double QueueWeight = 2, KvWeight = 2, PrefixWeight = 3;

    private readonly PrefixIndex _index = new();

    [ThreadStatic] private static Scratch? t_scratch;

    public DefaultProfileScheduler(EndpointRegistry registry)
    {
        // Departed endpoints leave the index at once (the reference sweeps every 2 minutes).
        registry.Changed += snapshot =>
        {
            var ids = new int[snapshot.Count];
            for (int i = 0; i < ids.Length; i++)
                ids[i] = snapshot.Endpoints[i].State.Id;
            _index.Retain(ids);
        };
    }

    public PrefixIndex Index => _index;

    private sealed class Scratch
    {
        public readonly ArrayPoolBufferWriter<byte> PrefixInput = new(64 * 1024);
        public ulong[] Hashes = new ulong[PrefixCacheParameters.DefaultMaxPrefixBlocksToMatch + 1];
        public int HashCount;
        public int[] Ids = new int[64];
        public int[] Matches = new int[64];
        public EndpointMetrics[] Metrics = new EndpointMetrics[64];

        public void EnsureCandidates(int n)
        {
            if (Ids.Length >= n)
                return;
            int size = Math.Max(n, Ids.Length * 2);
            Ids = new int[size];
            Matches = new int[size];
            Metrics = new EndpointMetrics[size];
        }
    }

    public int Schedule(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates,
        Span<int> result, out string? error)
    {
        error = null;
        if (candidates.IsEmpty || result.IsEmpty)
        {
            error = "failed to run scheduler profile 'default'";
            return -1;
        }
        var s = t_scratch ??= new Scratch();
        int n = candidates.Length;
        s.EnsureCandidates(n);
        var endpoints = snapshot.Endpoints;
        var ids = s.Ids.AsSpan(0, n);
        var metrics = s.Metrics.AsSpan(0, n);
        int minQueue = int.MaxValue, maxQueue = int.MinValue;
        for (int i = 0; i < n; i++)
        {
            var state = endpoints[candidates[i]].State;
            ids[i] = state.Id;
            metrics[i] = state.Metrics;
            minQueue = Math.Min(minQueue, metrics[i].WaitingQueueSize);
            maxQueue = Math.Max(maxQueue, metrics[i].WaitingQueueSize);
        }

        // approx-prefix-cache-producer: hash the prompt and count held blocks per candidate.
        var matches = s.Matches.AsSpan(0, n);
        matches.Clear();
        int total = HashPrompt(request, metrics[0].CacheBlockSize, s);
        if (total > 0)
            _index.Match(s.Hashes.AsSpan(0, total), ids, matches);

        int best = -1, ties = 0;
        double bestScore = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            double queue = maxQueue == minQueue ? 1.0 : (double)(maxQueue - metrics[i].WaitingQueueSize) / (maxQueue - minQueue);
            double kv = 1.0 - metrics[i].KvCacheUsagePercent;
            double prefix = total == 0 ? 0.0 : (double)matches[i] / total;
            double score = QueueWeight * Clamp(queue) + KvWeight * Clamp(kv) + PrefixWeight * Clamp(prefix);
            if (score > bestScore)
            {
                bestScore = score;
                best = i;
                ties = 1;
            }
            else if (score == bestScore && Random.Shared.Next(++ties) == 0)
            {
                best = i; // reservoir sampling keeps each tied endpoint with probability 1/ties
            }
        }
        result[0] = candidates[best];
        return 1;
    }

    private static double Clamp(double v) => double.IsNaN(v) ? 0 : Math.Clamp(v, 0, 1);

    private static int HashPrompt(SchedulingRequest request, int firstCandidateBlockSize, Scratch s)
    {
        s.HashCount = 0;
        if (request.Body is not { } parsed)
            return 0;
        s.PrefixInput.Clear();
        RequestBodyWriter.WritePrefixInput(request.BodyBytes, parsed, s.PrefixInput);
        int blockSize = PrefixCacheParameters.EffectiveBlockSizeTokens(true, PrefixCacheParameters.DefaultBlockSizeTokens, firstCandidateBlockSize);
        int maxBlocks = PrefixCacheParameters.DefaultMaxPrefixBlocksToMatch;
        int needed = BlockHasher.BlockCount(s.PrefixInput.WrittenCount, blockSize, maxBlocks);
        if (needed > s.Hashes.Length)
            s.Hashes = new ulong[needed];
        Span<byte> model = stackalloc byte[0];
        s.HashCount = BlockHasher.ComputeChain(parsed.HasModel ? TargetModelBytes(request, parsed) : model,
            parsed.CacheSaltUtf8.Span, s.PrefixInput.WrittenSpan, blockSize, maxBlocks, s.Hashes);
        return s.HashCount;
    }

    // The chain is seeded with the post-rewrite model; the parsed model bytes serve when it was not rewritten.
    private static ReadOnlySpan<byte> TargetModelBytes(SchedulingRequest request, ParsedRequest parsed) =>
        string.Equals(request.TargetModel, parsed.Model, StringComparison.Ordinal)
            ? parsed.ModelUtf8.Span
            : System.Text.Encoding.UTF8.GetBytes(request.TargetModel);

    /// <summary>PreRequest: record the chosen endpoint as holding this prompt's blocks.</summary>
    public void PreRequest(SchedulingRequest request, EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        var s = t_scratch;
        if (s is null || s.HashCount == 0 || chosen.IsEmpty)
            return;
        var state = snapshot.Endpoints[chosen[0]].State;
        _index.Record(s.Hashes.AsSpan(0, s.HashCount), state.Id,
            PrefixCacheParameters.ServerCapacity(true, state.Metrics.CacheNumBlocks));
        s.HashCount = 0;
    }
}
