using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using FastEpp.Fuzz;
using FastEpp.Fuzz.Targets;

// fastepp-fuzz [--target T[,T2]] [--seconds N] [--seed S] [--out DIR] [--list]
// Runs each target for N seconds (default 20), prints one row per target and exits 1 on any failure or hang.
static FuzzTarget[] AllTargets() =>
[
    new OpenAiRequestTarget(), new UsageTarget(), new PrometheusTarget(), new ConfigTarget(),
    new KubeWatchTarget(), new KubeConfigTarget(), new StreamMachineTarget(),
    new KvEventTarget(), new VllmGrpcTarget(),
];

// Under afl-fuzz only (./build.sh fuzz --afl): the SharpFuzz fork-server loop over one target. The targets are
// built inside the loop: instrumented code must not run before SharpFuzz has mapped the coverage map.
if (args is ["--afl-target", string aflTarget])
    return AflMode.Run(() => AllTargets().First(x => x.Name == aflTarget));

FuzzTarget[] all = AllTargets();

string? only = null;
double seconds = 20;
int seed = 1;
string outDir = Path.Combine(Environment.CurrentDirectory, "out", "fuzz");
long hangMs = 2000;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--target": only = args[++i]; break;
        case "--seconds": seconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--seed": seed = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--out": outDir = args[++i]; break;
        case "--hang-ms": hangMs = long.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--repro":
        {
            // --repro TARGET FILE: runs one input and prints the full exception.
            string name = args[++i], file = args[++i];
            var t = all.First(x => x.Name == name);
            try
            {
                Console.WriteLine($"signature {t.Run(File.ReadAllBytes(file))}: no failure");
                return 0;
            }
            catch (Exception ex)
            {
                Console.WriteLine(ex);
                return 1;
            }
        }
        case "--afl-seeds":
        {
            // --afl-seeds TARGET DIR: writes the target's seeds as afl-fuzz's input directory.
            string name = args[++i], dir = args[++i];
            return AflMode.WriteSeeds(all.First(x => x.Name == name), dir);
        }
        case "--list":
            foreach (var t in all)
                Console.WriteLine($"{t.Name,-16} {t.Property}");
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument {args[i]}; usage: fastepp-fuzz [--target T[,T]] [--seconds N] [--seed S] [--out DIR] [--hang-ms MS] [--list]");
            return 2;
    }
}

var selected = only is null ? all : all.Where(t => only.Split(',').Contains(t.Name)).ToArray();
if (selected.Length == 0)
{
    Console.Error.WriteLine($"no target named {only}; --list shows them");
    return 2;
}

Console.WriteLine($"fastepp-fuzz: seed {seed}, {seconds:0.#} s per target, hang threshold {hangMs} ms, failures under {outDir}");
Console.WriteLine($"| target | executions | exec/s | corpus (seed→final) | failures | hangs | slowest ms |");
Console.WriteLine($"|---|---:|---:|---:|---:|---:|---:|");
bool anyFailure = false;
foreach (var target in selected)
{
    var r = new FuzzRunner(target, seed, TimeSpan.FromSeconds(seconds), hangMs, Path.Combine(outDir, target.Name)).Run();
    anyFailure |= r.Failures > 0 || r.Hangs > 0;
    Console.WriteLine($"| {target.Name} | {r.Executions:N0} | {r.Executions / r.Elapsed.TotalSeconds:N0} | {r.SeedCount}→{r.CorpusCount} | {r.Failures} | {r.Hangs} | {r.SlowestMs:0} |");
    foreach (var f in r.FailureSummaries)
        Console.WriteLine($"    {f}");
}
return anyFailure ? 1 : 0;

namespace FastEpp.Fuzz
{
    internal sealed record FuzzResult(long Executions, TimeSpan Elapsed, int SeedCount, int CorpusCount, int Failures, int Hangs,
        double SlowestMs, List<string> FailureSummaries);

    /// <summary>The loop for one target: pick a corpus entry, mutate, run, classify; deterministic by seed.</summary>
    internal sealed class FuzzRunner(FuzzTarget target, int seed, TimeSpan duration, long hangMs, string outDir)
    {
        private const int MaxInput = 64 * 1024;
        private const int MaxCorpus = 4096;

        public FuzzResult Run()
        {
            var rng = new Random(unchecked(seed * 7919 ^ StableHash(target.Name)));
            var mutator = new Mutator(rng);
            var corpus = LoadSeeds();
            int seedCount = corpus.Count;
            var signatures = new HashSet<int>();
            var failureKeys = new Dictionary<string, int>(StringComparer.Ordinal);
            var summaries = new List<string>();
            long executions = 0;
            int failures = 0, hangs = 0;
            double slowest = 0;
            var one = new Stopwatch();

            // Seeds first, unmutated.
            foreach (var s in corpus.ToArray())
                Execute(s);

            var total = Stopwatch.StartNew();
            while (total.Elapsed < duration)
            {
                for (int k = 0; k < 64; k++)
                {
                    var parent = corpus[rng.Next(corpus.Count)];
                    Execute(mutator.Mutate(parent, corpus, target.JsonAware, MaxInput));
                }
            }
            return new FuzzResult(executions, total.Elapsed, seedCount, corpus.Count, failures, hangs, slowest, summaries);

            void Execute(byte[] input)
            {
                executions++;
                one.Restart();
                int sig;
                Exception? failure = null;
                try
                {
                    sig = target.Run(input);
                }
                catch (Exception ex)
                {
                    failure = ex;
                    sig = 0;
                }
                double ms = one.Elapsed.TotalMilliseconds;
                slowest = Math.Max(slowest, ms);
                if (failure is not null)
                {
                    failures++;
                    string key = failure.GetType().Name + ": " + FirstLine(failure.Message);
                    if (!failureKeys.TryAdd(key, 1))
                        return;
                    byte[] small = Minimise(input, failure);
                    string file = Save("failure", small);
                    summaries.Add($"FAILURE {key} ({small.Length} bytes after minimising, {file})\n      {FirstFrame(failure)}");
                    return;
                }
                if (ms > hangMs && Slow(input))
                {
                    hangs++;
                    summaries.Add($"HANG {ms:0} ms ({input.Length} bytes, {Save("hang", input)})");
                }
                if (signatures.Add(sig) && corpus.Count < MaxCorpus)
                    corpus.Add(input);
            }
        }

        // A slow input counts as a hang only if it is slow again (a GC pause or a loaded machine is not a hang).
        private bool Slow(byte[] input)
        {
            var sw = Stopwatch.StartNew();
            try
            {
                target.Run(input);
            }
            catch (Exception)
            {
            }
            return sw.ElapsedMilliseconds > hangMs;
        }

        private List<byte[]> LoadSeeds()
        {
            var seeds = new List<byte[]>();
            string dir = Path.Combine(AppContext.BaseDirectory, "corpus", target.Name);
            if (Directory.Exists(dir))
                foreach (var f in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                    seeds.Add(File.ReadAllBytes(f));
            seeds.AddRange(target.ExtraSeeds());
            if (seeds.Count == 0)
                seeds.Add([]);
            return seeds;
        }

        // Delta debugging light: drop chunks (halving sizes) while the same failure (type + first line) remains.
        private byte[] Minimise(byte[] input, Exception original)
        {
            string key = original.GetType().Name + ": " + FirstLine(original.Message);
            byte[] best = input;
            for (int chunk = Math.Max(1, best.Length / 2); chunk >= 1; chunk /= 2)
            {
                bool progress = true;
                int budget = 2000;
                while (progress && budget-- > 0)
                {
                    progress = false;
                    for (int at = 0; at + chunk <= best.Length; at += chunk)
                    {
                        var candidate = new byte[best.Length - chunk];
                        best.AsSpan(0, at).CopyTo(candidate);
                        best.AsSpan(at + chunk).CopyTo(candidate.AsSpan(at));
                        if (SameFailure(candidate, key))
                        {
                            best = candidate;
                            progress = true;
                            break;
                        }
                    }
                }
            }
            return best;
        }

        private bool SameFailure(byte[] input, string key)
        {
            try
            {
                target.Run(input);
                return false;
            }
            catch (Exception ex)
            {
                return ex.GetType().Name + ": " + FirstLine(ex.Message) == key;
            }
        }

        private string Save(string kind, byte[] input)
        {
            Directory.CreateDirectory(outDir);
            string name = $"{kind}-{Convert.ToHexString(SHA256.HashData(input))[..16].ToLowerInvariant()}.bin";
            string path = Path.Combine(outDir, name);
            File.WriteAllBytes(path, input);
            return path;
        }

        private static string FirstLine(string s)
        {
            int nl = s.IndexOf('\n');
            string line = nl < 0 ? s : s[..nl];
            return line.Length > 200 ? line[..200] : line;
        }

        private static string FirstFrame(Exception ex) =>
            ex.StackTrace?.Split('\n').FirstOrDefault(l => l.Contains("FastEpp.", StringComparison.Ordinal) && !l.Contains("FastEpp.Fuzz", StringComparison.Ordinal))?.Trim()
            ?? ex.StackTrace?.Split('\n').FirstOrDefault()?.Trim() ?? "";

        private static int StableHash(string s)
        {
            int h = 17;
            foreach (char c in s)
                h = h * 31 + c;
            return h;
        }
    }
}
