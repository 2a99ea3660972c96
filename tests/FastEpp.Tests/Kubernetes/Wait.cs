namespace FastEpp.Tests.Kubernetes;

/// <summary>Polling with a deadline instead of sleeps: the condition decides, the timeout only fails.</summary>
internal static class Wait
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out waiting for: {what}");
            await Task.Delay(20);
        }
    }
}
