namespace FastEpp.Fuzz;

/// <summary>
/// Coverage-guided mode: one target under afl-fuzz through SharpFuzz (<c>./build.sh fuzz --afl --target T</c>).
/// The runner copies this tool's output to out/afl/bin and instruments that copy of FastEpp.dll with the SharpFuzz
/// CLI; afl-fuzz then starts <c>dotnet FastEpp.Fuzz.dll --afl-target T</c>, whose fork-server loop (SharpFuzz's
/// <c>Fuzzer.OutOfProcess.Run</c>) feeds each input to the same <see cref="FuzzTarget.Run"/> as the in-process fuzzer:
/// a property violation or any unexpected exception is an AFL crash. Edge coverage comes from the instrumented
/// FastEpp.dll only (the targets' oracles in this assembly are not instrumented).
/// </summary>
internal static class AflMode
{
    public static int Run(Func<FuzzTarget> create)
    {
        FuzzTarget? target = null;
        SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
        {
            target ??= create();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target.Run(buffer.ToArray());
        });
        return 0;
    }

    /// <summary>Writes a target's seeds (corpus files and the seeds generated in code) as afl-fuzz's -i directory.</summary>
    public static int WriteSeeds(FuzzTarget target, string dir)
    {
        Directory.CreateDirectory(dir);
        int n = 0;
        string corpus = Path.Combine(AppContext.BaseDirectory, "corpus", target.Name);
        if (Directory.Exists(corpus))
            foreach (var f in Directory.GetFiles(corpus).Order(StringComparer.Ordinal))
                File.Copy(f, Path.Combine(dir, $"seed{n++:D3}"), overwrite: true);
        foreach (var s in target.ExtraSeeds())
            File.WriteAllBytes(Path.Combine(dir, $"seed{n++:D3}"), s);
        if (n == 0)
            File.WriteAllBytes(Path.Combine(dir, "seed000"), [(byte)' ']);
        Console.WriteLine($"{Math.Max(n, 1)} seeds for {target.Name} in {dir}");
        return 0;
    }
}
