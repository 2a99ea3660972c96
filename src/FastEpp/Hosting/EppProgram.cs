using System.Reflection;
using FastEpp.Hosting.Logging;

namespace FastEpp.Hosting;

/// <summary>Process entry: parse flags (exit 2 on usage errors), start the servers (exit 1 on setup errors), run until SIGTERM.</summary>
public static class EppProgram
{
    public static Task<int> RunAsync(string[] args) => RunAsync(args, null, CancellationToken.None);

    /// <summary>Runs the EPP; logs go to <paramref name="logOutput"/> (stderr when null); <paramref name="stop"/> ends it
    /// like SIGTERM (tests run the whole program in-process this way).</summary>
    internal static async Task<int> RunAsync(string[] args, Stream? logOutput, CancellationToken stop)
    {
        EppOptions options;
        FlagSet flags;
        try
        {
            options = EppOptions.Parse(args, warning => Console.Error.WriteLine(warning), out flags);
        }
        catch (HelpRequestedException)
        {
            EppOptions.Parse([], null, out flags);
            Console.Error.Write(flags.Usage("fastepp"));
            return 0;
        }
        catch (FlagException e)
        {
            EppOptions.Parse([], null, out flags);
            Console.Error.WriteLine(e.Message);
            Console.Error.Write(flags.Usage("fastepp"));
            return 2;
        }

        using var loggerFactory = CreateLoggerFactory(options.LogOptions, logOutput ?? Console.OpenStandardError());
        var logger = loggerFactory.CreateLogger("setup");
        var version = typeof(EppProgram).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        int plus = version.IndexOf('+');
        logger.Zap(LogLevel.Information, "GIE build", ZapEntry.Field("commit-sha", plus >= 0 ? version[(plus + 1)..] : "unknown"),
            ZapEntry.Field("build-ref", plus >= 0 ? version[..plus] : version));
        if (options.Validate() is { } error)
        {
            logger.Zap(LogLevel.Error, "Failed to validate flags", ZapEntry.Field("error", error));
            return 1;
        }
        logger.Zap(LogLevel.Information, "Flags processed", ZapEntry.Field("flags", new FlagsValue(options.ProcessedFlags)));

        using var shutdown = CancellationTokenSource.CreateLinkedTokenSource(stop);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; shutdown.Cancel(); });
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGINT, ctx => { ctx.Cancel = true; shutdown.Cancel(); });

        EppHost host;
        try
        {
            host = await EppHost.StartAsync(options, loggerFactory).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            logger.Zap(LogLevel.Error, ex, "Failed to start");
            return 1;
        }
        logger.Zap(LogLevel.Debug, "Servers listening", ZapEntry.Field("grpc-port", host.GrpcPort),
            ZapEntry.Field("grpc-health-port", host.HealthPort), ZapEntry.Field("metrics-port", host.MetricsPort));
        try
        {
            await Task.Delay(Timeout.Infinite, shutdown.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        logger.Zap(LogLevel.Information, "Shutting down");
        await host.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>The reference's zap logger (Hosting/Logging): JSON lines on stderr by default, levels from -v /
    /// --zap-log-level; ASP.NET Core's, the host's and gRPC's own chatter only from warnings up.</summary>
    internal static ILoggerFactory CreateLoggerFactory(ZapOptions options, Stream output)
    {
        var provider = new ZapLoggerProvider(options, output);
        var filters = new LoggerFilterOptions { MinLevel = provider.MinimumLevel };
        filters.Rules.Add(new LoggerFilterRule(null, "Microsoft", LogLevel.Warning, null)); // Kestrel/host lifetime chatter
        filters.Rules.Add(new LoggerFilterRule(null, "Grpc", LogLevel.Warning, null));
        return new LoggerFactory([provider], filters);
    }
}
