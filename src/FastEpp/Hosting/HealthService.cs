using FastEpp.Endpoints;
using Grpc.Core;
using Grpc.Health.V1;

namespace FastEpp.Hosting;

/// <summary>
/// The dedicated health server on --grpc-health-port (spec runtime.md §3.1): SERVING iff the pool is
/// synced and its appProtocol is one the parser speaks; with leader election, liveness is always
/// SERVING and readiness also needs leadership. Watch is unimplemented, as in the reference.
/// </summary>
internal sealed class HealthService(HealthState state) : Health.HealthBase
{
    public const string ExtProcService = "envoy.service.ext_proc.v3.ExternalProcessor";

    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        Task.FromResult(new HealthCheckResponse { Status = state.StatusFor(request.Service) });

    public override Task<HealthListResponse> List(HealthListRequest request, ServerCallContext context)
    {
        var response = new HealthListResponse();
        response.Statuses[ExtProcService] = new HealthCheckResponse { Status = state.StatusFor(ExtProcService) };
        if (state.LeaderElection)
        {
            response.Statuses["liveness"] = new HealthCheckResponse { Status = state.StatusFor("liveness") };
            response.Statuses["readiness"] = new HealthCheckResponse { Status = state.StatusFor("readiness") };
        }
        return Task.FromResult(response);
    }

    public override Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented, "Watch is not implemented"));
}

/// <summary>Inputs of the health answer; read per probe, never cached.</summary>
internal sealed class HealthState(EndpointRegistry registry)
{
    /// <summary>App protocols the configured parser speaks (openai-parser: http and h2c; vllmgrpc-parser: h2c); empty = any.</summary>
    public IReadOnlyList<string> ParserProtocols { get; init; } = Parsers.OpenAiParser.Default.SupportedAppProtocols;

    public bool LeaderElection { get; init; }
    public Func<bool> IsLeader { get; init; } = static () => true;
    /// <summary>The pool's appProtocol, null when there is no pool object (static endpoints).</summary>
    public Func<string?> AppProtocol { get; init; } = static () => null;
    public Func<bool>? IsSynced { get; init; }

    public bool Synced => IsSynced?.Invoke() ?? registry.Current.Synced;

    public bool ProtocolOk
    {
        get
        {
            if (!Synced)
                return true;
            string? protocol = AppProtocol();
            if (protocol is null || ParserProtocols.Count == 0)
                return true;
            if (protocol.Length == 0)
                protocol = Parsers.AppProtocols.Http;
            for (int i = 0; i < ParserProtocols.Count; i++)
                if (string.Equals(ParserProtocols[i], protocol, StringComparison.Ordinal))
                    return true;
            return false;
        }
    }

    public HealthCheckResponse.Types.ServingStatus StatusFor(string service)
    {
        bool live = Synced && ProtocolOk;
        if (!LeaderElection)
            return live ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing;
        return service switch
        {
            "liveness" => HealthCheckResponse.Types.ServingStatus.Serving,
            "readiness" or "" or HealthService.ExtProcService =>
                live && IsLeader() ? HealthCheckResponse.Types.ServingStatus.Serving : HealthCheckResponse.Types.ServingStatus.NotServing,
            _ => HealthCheckResponse.Types.ServingStatus.ServiceUnknown,
        };
    }
}

/// <summary>
/// The stock gRPC health service added to the ext_proc port by --health-checking (spec §3.2):
/// "" and the ext_proc service are SERVING forever; anything else is NOT_FOUND.
/// </summary>
internal sealed class StockHealthService : Health.HealthBase
{
    private static HealthCheckResponse Lookup(string service) =>
        service is "" or HealthService.ExtProcService
            ? new HealthCheckResponse { Status = HealthCheckResponse.Types.ServingStatus.Serving }
            : throw new RpcException(new Status(StatusCode.NotFound, "unknown service"));

    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        Task.FromResult(Lookup(request.Service));

    public override Task<HealthListResponse> List(HealthListRequest request, ServerCallContext context)
    {
        var response = new HealthListResponse();
        response.Statuses[""] = Lookup("");
        response.Statuses[HealthService.ExtProcService] = Lookup(HealthService.ExtProcService);
        return Task.FromResult(response);
    }

    public override async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context)
    {
        var status = request.Service is "" or HealthService.ExtProcService
            ? HealthCheckResponse.Types.ServingStatus.Serving
            : HealthCheckResponse.Types.ServingStatus.ServiceUnknown;
        await responseStream.WriteAsync(new HealthCheckResponse { Status = status }).ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>
/// grpc.health.v1.Health on the EPP's one Kestrel app: the pool's <see cref="HealthService"/> on --grpc-health-port,
/// the <see cref="StockHealthService"/> on the ext_proc port (mapped there only with --health-checking).
/// </summary>
internal sealed class HealthRouter(HealthService pool, StockHealthService stock) : Health.HealthBase
{
    private Health.HealthBase For(ServerCallContext context) =>
        KestrelApps.ListenerOf(context.GetHttpContext()) == EppListener.ExtProc ? stock : pool;

    public override Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context) =>
        For(context).Check(request, context);

    public override Task<HealthListResponse> List(HealthListRequest request, ServerCallContext context) =>
        For(context).List(request, context);

    public override Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responseStream, ServerCallContext context) =>
        For(context).Watch(request, responseStream, context);
}
