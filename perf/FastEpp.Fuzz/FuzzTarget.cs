namespace FastEpp.Fuzz;

/// <summary>A property violated by an input: the fuzzer records it as a failure (like a crash).</summary>
internal sealed class PropertyViolation(string message) : Exception(message);

/// <summary>
/// One fuzz target: its seed corpus (perf/FastEpp.Fuzz/corpus/&lt;name&gt;/) and one execution over an input.
/// <see cref="Run"/> throws <see cref="PropertyViolation"/> when a property fails; any other exception
/// escaping it is a crash. It returns an outcome signature: inputs reaching a signature not seen before
/// join the live corpus (outcome-guided, since the in-process fuzzer has no coverage counters).
/// </summary>
internal abstract class FuzzTarget
{
    public abstract string Name { get; }

    /// <summary>What the target checks (printed by --list and in docs/reliability.md).</summary>
    public abstract string Property { get; }

    /// <summary>The target reads its inputs as JSON text (structure-aware mutations apply).</summary>
    public virtual bool JsonAware => false;

    /// <summary>Extra seeds generated in code (besides the corpus files).</summary>
    public virtual IEnumerable<byte[]> ExtraSeeds() => [];

    public abstract int Run(byte[] input);

    protected static void Check(bool condition, string message)
    {
        if (!condition)
            throw new PropertyViolation(message);
    }
}
