using System.Buffers;
using FastEpp.Sim.Engine;
using FastEpp.Sim.Http;

namespace FastEpp.Sim.Hosting;

/// <summary>One oracle decision: the replica picked and what was predicted for each replica.</summary>
internal readonly record struct OracleDecision(int Replica, TtftPrediction[] Predictions);

/// <summary>
/// The routing limit: a greedy router with perfect information about an in-process fleet. For each request it
/// tokenizes the body exactly as the replicas do, reads every engine's true state at that instant under its lock
/// (prefix-cache blocks of this very prompt, running and waiting work, free KV blocks and sequence slots, resident
/// LoRA adapters, plus the requests it has routed that have not reached their engine yet) and predicts the TTFT on
/// each replica with the simulator's own step model (<see cref="EngineCore.PredictTtft"/>).
/// <para>
/// Rule: the lowest cost wins, cost = predicted TTFT + (1 + λ·TTFT) × the request's own uncached prefill GPU time
/// (λ = recent arrivals per second per replica: the prefill it adds delays the requests that arrive behind it; without
/// this term a TTFT-greedy router copies hot prefixes onto idle replicas and thrashes every cache under load, 2.6×
/// worse mean TTFT in FleetOracleTests). Replicas within max(10 ms, 5%) of the minimum count as equal and the one
/// whose running decode batch is cheapest per step wins among them (a prefill added there stalls the fewest decoders
/// for the shortest time, and the request itself decodes fastest). A prediction includes the wait for KV blocks,
/// so a replica where the request would force preemptions or queue for memory is never preferred over one with room.
/// </para>
/// <para>
/// Strengthened (issue 10 §2): a greedy router decides where each new prefix lives by the queues of the instant, and its
/// later requests follow it there; a static partition by group id, which spreads prefixes evenly, beat it by 20–30 %.
/// So on a replica that holds no block of the prompt the externality is weighted by that replica's burden, 1 for a fair
/// share: the larger of its share of the last 64 decisions × the replica count and its share of the prefixes homed so
/// far (placements where it held no block) against the fleet mean, (homes + 1) / (mean + 1). The first weight follows
/// traffic; the second keeps the first placements — made on an idle fleet, where every queue looks alike — from putting
/// three of eight system prompts on one replica, after which every conversation under them snowballs there (multi-turn
/// chat at 2× rate, where the reference's default beat the rule without it; OracleMultiTurnTests).
/// </para>
/// It only reads engine state; decisions are serialised (one at a time), as a single router's would be.
/// </summary>
internal sealed class FleetOracle
{
    private readonly Replica[] _replicas;
    private readonly SimClock _clock;
    private readonly Options.SimOptions _options;
    private readonly Transit[] _transit;
    private readonly object _gate = new();

    /// <summary>Creates an oracle over a started (or starting) fleet.</summary>
    public FleetOracle(Replica[] replicas, SimClock clock, Options.SimOptions options)
    {
        _replicas = replicas;
        _clock = clock;
        _options = options;
        _transit = new Transit[replicas.Length];
        for (int i = 0; i < replicas.Length; i++)
        {
            lock (replicas[i].Lock)
            {
                _transit[i] = new Transit(replicas[i].Engine.Stats.SubmitCalls);
            }
        }
    }

    /// <summary>Creates an oracle over a fleet.</summary>
    public FleetOracle(SimFleet fleet) : this(fleet.Replicas, fleet.Clock, fleet.Options)
    {
    }

    /// <summary>
    /// The cost minimised: predicted TTFT plus the request's externality, its uncached prefill GPU time × (1 + the
    /// arrivals expected on that replica while it is ahead of them = recent arrival rate per replica × its predicted
    /// TTFT). Pure TTFT greedy duplicates hot prefixes onto idle replicas and thrashes their caches under load.
    /// </summary>
    public double Cost(TtftPrediction p) => Cost(p, p.OwnPrefillSeconds);

    /// <summary>The cost with the delay a request imposes on the next arrival at that replica (see the class summary).</summary>
    public double Cost(TtftPrediction p, double imposed) => p.Seconds + (1 + _ratePerReplica * p.Seconds) * imposed;

    /// <summary>
    /// True: the first rule (the externality is the request's own uncached prefill everywhere), kept to measure the
    /// current rule against (FleetOracleTests). False (default): on a replica holding no block of the prompt, that
    /// externality is weighted by the replica's burden (see the class summary).
    /// </summary>
    public bool Greedy { get; init; }

    /// <summary>False: the burden is the recent-traffic share only (the rule before homes were counted), kept to measure against.</summary>
    public bool CountHomes { get; init; } = true;

    /// <summary>
    /// True (default): after the first 64 decisions the burden weight applies in proportion to how much of recent prompts
    /// was found cached on some replica (with no sharing a new prompt brings no followers). False: always in full, kept
    /// to measure against.
    /// </summary>
    public bool WeighBySharing { get; init; } = true;

    private readonly double[] _recentHit = new double[64];
    private double _recentShared;
    private int[] _homes = [];
    private int _homeTotal;

    private readonly double[] _recent = new double[64];
    private readonly int[] _recentReplica = new int[64];
    private int[] _recentPicks = [];
    private int _recentCount;
    private double _ratePerReplica;

    /// <summary>Equal-TTFT band: absolute floor, s.</summary>
    public const double BandSeconds = 0.010;

    /// <summary>Equal-TTFT band: relative part.</summary>
    public const double BandFraction = 0.05;

    /// <summary>
    /// Picks the replica for an OpenAI request body (<paramref name="chat"/>: /v1/chat/completions, else /v1/completions).
    /// Returns -1 when the body cannot be parsed or names an unknown model (the caller falls back), or every replica is down.
    /// </summary>
    public int Pick(ReadOnlySequence<byte> body, bool chat) => Decide(body, chat).Replica;

    /// <summary>As <see cref="Pick"/>, with every replica's prediction.</summary>
    public OracleDecision Decide(ReadOnlySequence<byte> body, bool chat)
    {
        OpenAiRequest? req = OpenAiRequest.Parse(body, chat, _options.Engine.BlockSize, out _);
        if (req is null)
        {
            return new OracleDecision(-1, []);
        }
        int adapter = -1;
        if (req.Model != _options.Model && (adapter = _options.LoraModules.IndexOf(req.Model!)) < 0)
        {
            return new OracleDecision(-1, []);
        }
        ulong[] hashes = req.Tokens.ToHashArray(adapter >= 0 ? req.Model : null);
        return Decide(hashes, req.PromptTokens, adapter);
    }

    /// <summary>Decides for a tokenized prompt at the fleet clock's now and records it as in transit to the chosen replica.</summary>
    public OracleDecision Decide(ulong[] hashes, int promptTokens, int adapter) => Decide(hashes, promptTokens, adapter, _clock.Now);

    /// <summary>Decides at simulated time <paramref name="now"/> (tests drive engines in simulated time).</summary>
    public OracleDecision Decide(ulong[] hashes, int promptTokens, int adapter, double now)
    {
        lock (_gate)
        {
            // Recent arrival rate per replica (the last 64 decisions), for the externality term of the cost.
            if (_recentPicks.Length != _replicas.Length)
            {
                _recentPicks = new int[_replicas.Length];
                _homes = new int[_replicas.Length];
            }
            _recent[_recentCount++ % _recent.Length] = now;
            int n = Math.Min(_recentCount, _recent.Length);
            double oldest = _recent[_recentCount > _recent.Length ? _recentCount % _recent.Length : 0];
            _ratePerReplica = n > 1 && now > oldest ? (n - 1) / (now - oldest) / _replicas.Length : 0;
            var predictions = new TtftPrediction[_replicas.Length];
            var costs = new double[_replicas.Length];
            double best = double.PositiveInfinity;
            int blockSize = _options.Engine.BlockSize;
            for (int i = 0; i < _replicas.Length; i++)
            {
                Replica r = _replicas[i];
                lock (r.Lock)
                {
                    if (r.Killed)
                    {
                        predictions[i] = new TtftPrediction(double.PositiveInfinity, 0, 0, 0, double.PositiveInfinity, 0);
                        costs[i] = double.PositiveInfinity;
                        continue;
                    }
                    EngineCore engine = r.Engine;
                    InTransitWork transit = _transit[i].Reconcile(engine.Stats.SubmitCalls);
                    TtftPrediction p = engine.PredictTtft(hashes, promptTokens, adapter, now, transit);
                    predictions[i] = p;
                    double imposed = p.OwnPrefillSeconds;
                    if (!Greedy && p.HitTokens == 0)
                    {
                        // No block of this prompt cached here: placing it here makes this replica the home of a new prefix,
                        // whose later requests follow it. Weigh its cost by the replica's burden: new prefixes go where the
                        // load they will bring is least felt.
                        double share = _recentCount > 8
                            ? (double)_recentPicks[i] / Math.Min(_recentCount - 1, _recentReplica.Length) * _replicas.Length : 1;
                        double homes = CountHomes ? (_homes[i] + 1.0) / ((double)_homeTotal / _replicas.Length + 1) : 0;
                        double burden = _recentCount > 8 || CountHomes ? Math.Max(share, homes) : 1;
                        // A new prefix brings followers only as far as requests share prefixes: once a full window of
                        // decisions is known, the burden counts in full when recent prompts were found cached on some
                        // replica for half their length on average, in proportion below that (~0: plain load balancing,
                        // where balancing request counts only adds noise to balancing work).
                        double sharing = WeighBySharing && _recentCount > _recentHit.Length
                            ? Math.Min(1, 2 * _recentShared / _recentHit.Length) : 1;
                        imposed *= 1 + sharing * (burden - 1);
                    }
                    costs[i] = Cost(p, imposed);
                }
                best = Math.Min(best, costs[i]);
            }
            if (double.IsPositiveInfinity(best))
            {
                return new OracleDecision(-1, predictions);
            }
            double band = best + Math.Max(BandSeconds, BandFraction * best);
            int pick = -1;
            for (int i = 0; i < predictions.Length; i++)
            {
                if (costs[i] <= band && (pick < 0 || predictions[i].DecodeStepSeconds < predictions[pick].DecodeStepSeconds))
                {
                    pick = i;
                }
            }
            TtftPrediction chosen = predictions[pick];
            int slot = (_recentCount - 1) % _recentReplica.Length;
            if (_recentCount > _recentReplica.Length)
            {
                _recentPicks[_recentReplica[slot]]--;
                _recentShared -= _recentHit[slot];
            }
            int hitMax = 0;
            foreach (TtftPrediction p in predictions)
                hitMax = Math.Max(hitMax, p.HitTokens);
            _recentHit[slot] = promptTokens > 0 ? Math.Min(1, (double)hitMax / promptTokens) : 0;
            _recentShared += _recentHit[slot];
            _recentReplica[slot] = pick;
            _recentPicks[pick]++;
            if (chosen.HitTokens == 0)
            {
                _homes[pick]++;
                _homeTotal++;
            }
            _transit[pick].Add(hashes, promptTokens - chosen.HitTokens, (promptTokens + 1 + blockSize - 1) / blockSize - chosen.HitTokens / blockSize);
            return new OracleDecision(pick, predictions);
        }
    }

    /// <summary>Requests routed to one replica that its engine has not seen yet (FIFO; the engine counts Submit calls).</summary>
    private sealed class Transit(long baseline)
    {
        private readonly Queue<(ulong[] Hashes, int Tokens, int Blocks)> _queue = new();
        private readonly HashSet<ulong> _hashes = new();
        private long _decided;

        public void Add(ulong[] hashes, int tokens, int blocks)
        {
            _queue.Enqueue((hashes, tokens, blocks));
            _decided++;
        }

        public InTransitWork Reconcile(long submitCalls)
        {
            long pending = Math.Max(0, _decided - (submitCalls - baseline));
            while (_queue.Count > pending)
            {
                _queue.Dequeue();
            }
            if (_queue.Count == 0)
            {
                return default;
            }
            _hashes.Clear();
            int tokens = 0, blocks = 0;
            foreach ((ulong[] h, int t, int b) in _queue)
            {
                tokens += t;
                blocks += b;
                foreach (ulong x in h)
                {
                    _hashes.Add(x);
                }
            }
            return new InTransitWork(tokens, blocks, _hashes);
        }
    }
}
