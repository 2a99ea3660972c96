using BenchmarkDotNet.Attributes;
using FastEpp.Body;
using FastEpp.Requests.Cel;

namespace FastEpp.Benchmarks.Requests;

/// <summary>
/// The request-attribute-reporter's expression on the response path: FastEpp's compiled CEL subset
/// (Requests/Cel) against the <c>Cel</c> NuGet package (0.3.3, a cel-java port: ANTLR parser, boxed
/// dictionary activation), the package the issue named as the first choice. Same expression, same usage.
/// </summary>
[MemoryDiagnoser]
public class CelBenchmarks
{
    private const string Expression = "has(usage.prompt_tokens) ? usage.prompt_tokens + 2.0 * usage.completion_tokens : 0.0";

    private CelExpression _ours = null!;
    private Usage _usage;
    private Cel.CelProgramDelegate _package = null!;
    private Dictionary<string, object?> _activation = null!;

    [GlobalSetup]
    public void Setup()
    {
        // The usage Struct carries numbers as doubles (as the reference marshals it), hence 2.0 and 0.0.
        _ours = CelExpression.Compile(Expression);
        _usage = new Usage { PromptTokens = 1200, CompletionTokens = 300, TotalTokens = 1500, Present = true };
        _package = new Cel.CelEnvironment(null, "").Compile(Expression);
        // The package reads variables from a dictionary of boxed values, rebuilt per response in real use.
        if (_ours.Evaluate(_usage).Double != 1800 || !Equals(_package(NewActivation()), 1800.0))
            throw new InvalidOperationException("the two evaluators disagree on the benchmark expression");
        _activation = NewActivation();
    }

    private static Dictionary<string, object?> NewActivation() =>
        new Dictionary<string, object?>
        {
            ["usage"] = new Dictionary<string, object> { ["prompt_tokens"] = 1200.0, ["completion_tokens"] = 300.0, ["total_tokens"] = 1500.0 },
        };

    [Benchmark(Baseline = true)]
    public object? CelPackage() => _package(_activation);

    [Benchmark]
    public double FastEpp() => _ours.Evaluate(_usage).Double;

    [Benchmark]
    public object FastEppCompile() => CelExpression.Compile(Expression);

    [Benchmark]
    public Cel.CelProgramDelegate CelPackageCompile() => new Cel.CelEnvironment(null, "").Compile(Expression);
}
