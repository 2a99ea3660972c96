using FastEpp.Perf.Commands;

namespace FastEpp.Perf;

/// <summary>Entry point of the perf tool (assembly FastEpp.Perf).</summary>
internal static class Program
{
    private const string Usage = """
        FastEpp perf tool
          compare   run a GIE benchmark workload through round robin, random and EPP configurations; HTML/MD/JSON report
          overhead  the GIE #2928 long-prompt overhead harness (4 instant sims, 220 KB prompts, concurrency 20..150)
          workloads list the workloads and their reference parameters
        Run '<command> --help' for its flags.
        """;

    private static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            Console.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        string command = args[0];
        if (args.Length > 1 && args[1] is "--help" or "-h")
        {
            Console.WriteLine(command switch { "compare" => CompareCommand.Usage, "overhead" => OverheadCommand.Usage, _ => Usage });
            return 0;
        }
        Flags? flags = Flags.Parse(args.AsSpan(1), out string? error);
        if (flags is null)
        {
            Console.Error.WriteLine(error);
            return 2;
        }
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        try
        {
            return command switch
            {
                "compare" => await CompareCommand.RunAsync(flags, cts.Token),
                "overhead" => await OverheadCommand.RunAsync(flags, cts.Token),
                "workloads" => ListWorkloads(),
                _ => Fail("unknown command '" + command + "'"),
            };
        }
        catch (FormatException ex)
        {
            return Fail(ex.Message);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
    }

    private static int ListWorkloads()
    {
        Console.WriteLine("built-in workloads (" + Workloads.WorkloadCatalog.Directory + "):");
        foreach (string name in Workloads.WorkloadCatalog.Names())
        {
            Workloads.WorkloadFile file = Workloads.WorkloadCatalog.Find(name)!;
            Workloads.WorkloadSpec w = file.Spec;
            Console.WriteLine(w.Name + ": " + CompareCommand.Describe(w));
            Console.WriteLine("    source: " + w.Source + "; reference fleet " + w.Replicas + " x " + w.SimProfile);
            foreach (string note in file.Notes)
                Console.WriteLine("    note: " + note);
        }
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return 2;
    }
}
