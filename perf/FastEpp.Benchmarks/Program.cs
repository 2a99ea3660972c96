using BenchmarkDotNet.Running;

namespace FastEpp.Benchmarks;

public static class BenchmarkProgram
{
    // Workstation, non-concurrent GC (see the csproj): server GC over-counts allocated bytes.
    public static void Main(string[] args)
    {
        if (Metrics.PollerLoadTest.TryRun(args)) return; // console modes: poller-load (and its child, poller-fake)
        BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
    }
}
