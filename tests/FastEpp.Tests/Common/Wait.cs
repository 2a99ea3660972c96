using System.Diagnostics;

namespace FastEpp.Tests.Common;

/// <summary>
/// The one poll-until helper of the test projects: polling with a deadline instead of sleeps. The condition
/// decides; the timeout only fails, with a message naming what was awaited. The default is generous because the
/// CI box is a loaded 2-core machine shared with other builds: a condition that holds returns at once anyway.
/// </summary>
/// <remarks>FastEpp.Gateway.Tests compiles this file too (linked in its csproj).</remarks>
internal static class Wait
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private const int PollMilliseconds = 10;

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test after the timeout.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? DefaultTimeout;
        long start = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(start) > limit)
                Fail(what, limit);
            await Task.Delay(PollMilliseconds);
        }
    }

    /// <summary>The same for a condition that has to be awaited (a gRPC health check, an HTTP probe).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? DefaultTimeout;
        long start = Stopwatch.GetTimestamp();
        while (!await condition())
        {
            if (Stopwatch.GetElapsedTime(start) > limit)
                Fail(what, limit);
            await Task.Delay(PollMilliseconds);
        }
    }

    /// <summary>Blocking form, for synchronous tests (background work items on the thread pool).</summary>
    public static void Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        TimeSpan limit = timeout ?? DefaultTimeout;
        long start = Stopwatch.GetTimestamp();
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(start) > limit)
                Fail(what, limit);
            Thread.Sleep(PollMilliseconds);
        }
    }

    private static void Fail(string what, TimeSpan limit) =>
        Assert.Fail($"timed out after {limit.TotalSeconds:0.#} s waiting for: {what}");
}
