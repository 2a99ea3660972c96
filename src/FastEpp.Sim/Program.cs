using System.Globalization;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;

namespace FastEpp.Sim;

/// <summary>Entry point of <c>fastepp-sim</c>.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        if (args.Length == 2 && args[0] is "--kv-events-bench" or "--tokenize-bench")
        {
            if (!int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count < 1)
            {
                Console.Error.WriteLine($"fastepp-sim: {args[0]} needs a positive count");
                return 2;
            }
            return args[0] == "--kv-events-bench" ? KvEvents.KvEventsBench.Run(count, Console.Out) : Tokenization.TokenizeBench.Run(count, Console.Out);
        }
        SimOptions? options = SimOptions.Parse(args, out string? error);
        if (options is null)
        {
            if (error == "help")
            {
                Console.Out.WriteLine(SimOptions.Usage);
                return 0;
            }
            Console.Error.WriteLine("fastepp-sim: " + error);
            return 2;
        }
        await using SimFleet fleet = SimFleet.Create(options);
        try
        {
            await fleet.StartAsync();
        }
        catch (InvalidOperationException ex) when (ex.Message.StartsWith("--kv-events-config", StringComparison.Ordinal))
        {
            Console.Error.WriteLine("fastepp-sim: " + ex.Message);
            return 1;
        }
        var p = options.Engine;
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fastepp-sim: {options.Replicas} replica(s) of {options.Model} [{p.Name}: {p.NumGpuBlocks} blocks x {p.BlockSize}, max-num-seqs {p.MaxNumSeqs}, max-num-batched-tokens {p.MaxNumBatchedTokens}] time-scale {options.TimeScale}, dialect {options.Dialect}, tokenizer {options.Tokenizer.Name}"));
        foreach (Replica r in fleet.Replicas)
        {
            Console.Out.WriteLine($"  replica {r.Index}: http://{r.Endpoint}");
            if (r.KvEvents is { } kv)
            {
                Console.Out.WriteLine($"    kv events: {kv.Endpoint} topic '{kv.Topic}'" + (kv.ReplayEndpoint is null ? "" : $", replay {kv.ReplayEndpoint}"));
            }
        }
        await fleet.WaitForShutdownAsync();
        return 0;
    }
}
