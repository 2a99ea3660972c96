using Microsoft.Extensions.Logging.Console;

namespace FastEpp.Hosting;

/// <summary>Process entry: parse flags (exit 2 on usage errors), start the servers (exit 1 on setup errors), run until SIGTERM.</summary>
public static class EppProgram
{
    public static async Task<int> RunAsync(string[] args)
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

        using var loggerFactory = CreateLoggerFactory(options);
        var logger = loggerFactory.CreateLogger("FastEpp");
        logger.LogInformation("Flags processed: {Flags}", string.Join(" ", options.Processed.Select(p => $"{p.Key}={p.Value}")));
        if (options.Validate() is { } error)
        {
            logger.LogError("Failed to validate flags: {Error}", error);
            return 1;
        }

        using var shutdown = new CancellationTokenSource();
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
            logger.LogError(ex, "Failed to start: {Error}", ex.Message);
            return 1;
        }
        try
        {
            await Task.Delay(Timeout.Infinite, shutdown.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        logger.LogInformation("Shutting down");
        await host.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    /// <summary>JSON lines on stderr like the reference's zap logger; -v / --zap-log-level pick the level.</summary>
    internal static ILoggerFactory CreateLoggerFactory(EppOptions options)
    {
        var level = options.ZapLogLevel switch
        {
            "debug" => LogLevel.Debug,
            "info" => LogLevel.Information,
            "error" => LogLevel.Error,
            "panic" => LogLevel.Critical,
            { } n when int.TryParse(n, out var i) => i >= 4 ? LogLevel.Trace : i >= 3 ? LogLevel.Debug : LogLevel.Information,
            _ => options.Verbosity >= 5 ? LogLevel.Trace : options.Verbosity >= 3 ? LogLevel.Debug : LogLevel.Information,
        };
        return LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(level);
            b.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            b.AddFilter("Grpc", LogLevel.Warning);
            b.AddJsonConsole(o =>
            {
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
                o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
            });
            b.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        });
    }
}
