using System.Diagnostics;
using FastEpp.Fuzz;
using FastEpp.Fuzz.Targets;

namespace FastEpp.Tests.Reliability;

/// <summary>
/// The pieces of <c>./build.sh fuzz --afl</c> that run without afl-fuzz (which CI does not install): the seeds
/// written as afl-fuzz's input directory, and the <c>--afl-target</c> harness (SharpFuzz's loop, which without AFL
/// runs the target once on standard input) driving the real target in a child process.
/// </summary>
public sealed class FuzzAflModeTests
{
    [Fact]
    public void AflSeeds_AreTheTargetsSeeds()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"fastepp-afl-seeds-{Environment.ProcessId}");
        try
        {
            var target = new VllmGrpcTarget();
            AflMode.WriteSeeds(target, dir);
            var written = Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToArray();
            var expected = target.ExtraSeeds().ToArray();
            Assert.Equal(expected.Length, written.Length);
            for (int i = 0; i < expected.Length; i++)
                Assert.Equal(expected[i], written[i]);
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("vllm-grpc", new byte[] { 1, 0x12, 0x02, 0x10, 0x07 })]
    [InlineData("prometheus", new byte[] { (byte)'a', (byte)' ', (byte)'1', (byte)'\n' })]
    public async Task AflTarget_RunsTheTargetOnStandardInput(string name, byte[] input)
    {
        string fuzzer = Path.Combine(AppContext.BaseDirectory, "FastEpp.Fuzz.dll");
        var start = new ProcessStartInfo("dotnet", [fuzzer, "--afl-target", name])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        await process.StandardInput.BaseStream.WriteAsync(input);
        process.StandardInput.Close();
        string stderr = await process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {stderr}");
    }
}
