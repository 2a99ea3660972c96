namespace FastEpp.Perf;

internal static class Program
{
    private static Task<int> Main(string[] args) => Task.FromResult(0);
}
