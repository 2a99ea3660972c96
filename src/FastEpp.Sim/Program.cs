using System.Globalization;
using FastEpp.Sim.Hosting;
using FastEpp.Sim.Options;

namespace FastEpp.Sim;

/// <summary>Entry point of <c>fastepp-sim</c>.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
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
        await fleet.StartAsync();
        var p = options.Engine;
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fastepp-sim: {options.Replicas} replica(s) of {options.Model} [{p.Name}: {p.NumGpuBlocks} blocks x {p.BlockSize}, max-num-seqs {p.MaxNumSeqs}, max-num-batched-tokens {p.MaxNumBatchedTokens}] time-scale {options.TimeScale}, dialect {options.Dialect}"));
        foreach (Replica r in fleet.Replicas)
        {
            Console.Out.WriteLine($"  replica {r.Index}: http://{r.Endpoint}");
        }
        await fleet.WaitForShutdownAsync();
        return 0;
    }
}
