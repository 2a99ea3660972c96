using FastEpp.Fuzz;
using FastEpp.Fuzz.Targets;

namespace FastEpp.Tests.Reliability;

/// <summary>
/// The CI form of <c>./build.sh fuzz</c>: every fuzz target (perf/FastEpp.Fuzz) for 3 s with a fixed seed, its
/// seed corpus included; any property violation or crash fails the test with the minimised input's summary.
/// The long runs and their figures are in docs/reliability.md.
/// </summary>
public sealed class FuzzSmokeTests
{
    public static TheoryData<string> Targets => new(AllTargets().Select(t => t.Name));

    private static FuzzTarget[] AllTargets() =>
    [
        new OpenAiRequestTarget(), new UsageTarget(), new PrometheusTarget(), new ConfigTarget(),
        new KubeWatchTarget(), new KubeConfigTarget(), new StreamMachineTarget(),
        new KvEventTarget(), new VllmGrpcTarget(),
    ];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Target_ThreeSeconds_NoFailure(string name)
    {
        var target = AllTargets().Single(t => t.Name == name);
        string outDir = Path.Combine(Path.GetTempPath(), "fastepp-fuzz-ci", name);
        // The hang threshold is generous: CI shares 2 cores with other suites (a hang is an input that never ends).
        var result = new FuzzRunner(target, seed: 11, TimeSpan.FromSeconds(3), hangMs: 30_000, outDir).Run();
        Assert.True(result.SeedCount > 1 || name == "kubeconfig", $"{name}: the seed corpus was not found");
        Assert.True(result.Executions > result.SeedCount, $"{name}: no mutated input ran");
        Assert.True(result.Failures == 0 && result.Hangs == 0, string.Join("\n", result.FailureSummaries));
    }
}
