using System.Globalization;
using System.Runtime.CompilerServices;
using FastEpp.Admission.Policies;
using FastEpp.Endpoints;
using FastEpp.Hosting.Logging;
using FastEpp.Observability;
using FastEpp.Configuration;
using FastEpp.Requests;
using FastEpp.Scheduling;

namespace FastEpp.Admission;

/// <summary>
/// The one admission entry point (spec runtime.md §4.3–§4.5). Two modes, chosen by the config:
/// <list type="bullet">
/// <item>legacy (no <c>flowControl</c> gate): a sheddable request (priority &lt; 0) is rejected when the
/// saturation detector calls its candidates saturated (≥ 1); everything else is admitted at once;</item>
/// <item>flow control (<c>featureGates: [flowControl]</c>): every request waits in the
/// <see cref="FlowController"/>'s queue and is admitted or rejected when it leaves.</item>
/// </list>
/// The caller asks <see cref="Admit"/> and, on <see cref="AdmissionVerdict.Wait"/>, awaits
/// <see cref="WaitAsync"/> and asks <see cref="AfterWait"/>; it never needs to know the mode.
/// </summary>
internal sealed class AdmissionControl
{
    /// <summary>No detector, no queue: every request is admitted (a host without a config, tests).</summary>
    public static readonly AdmissionControl AdmitAll = new(null, null);

    private readonly ISaturationDetector? _shedding;

    /// <param name="shedding">Legacy mode's detector; null = never shed.</param>
    /// <param name="flowControl">Flow-control mode's queue; when set, <paramref name="shedding"/> is ignored.</param>
    /// <param name="logger">Where a shed request is logged (trace level, -v=5, as the reference).</param>
    public AdmissionControl(ISaturationDetector? shedding, FlowController? flowControl, ILogger? logger = null)
    {
        _shedding = flowControl is null ? shedding : null;
        FlowControl = flowControl;
        _logger = logger;
    }

    private readonly ILogger? _logger;

    /// <summary>The queue in flow-control mode (the host disposes it before the servers stop); null in legacy mode.</summary>
    public FlowController? FlowControl { get; }

    /// <summary>Admit, reject, or queue a request whose candidates are known.</summary>
    /// <param name="model">The model as the client named it (flow-control metric label).</param>
    public AdmissionDecision Admit(SchedulingRequest request, string model, EndpointSnapshot snapshot, ReadOnlySpan<int> candidates)
    {
        if (FlowControl is { } queue)
        {
            long slo = request.Headers.TryGetValue(HeaderNames.SloTtftMs, out var sloText)
                && long.TryParse(sloText, NumberStyles.None, CultureInfo.InvariantCulture, out long ms) ? ms : -1;
            return AdmissionDecision.Wait(queue.Enqueue(request.FairnessId, request.Priority, request.RequestSize, model, request.TargetModel, slo));
        }
        if (request.Priority < 0 && _shedding is { } detector && detector.Saturation(snapshot, candidates) >= 1.0)
        {
            // The reference's text and key (requestcontrol/admission.go), so its log queries find shedding.
            if (_logger is { } log && log.IsEnabled(LogLevel.Trace))
                log.Zap(LogLevel.Trace, "Request rejected: system saturated and request is sheddable", ZapEntry.Field("requestID", request.RequestId));
            return AdmissionDecision.Reject(InferenceErrors.Shed);
        }
        return AdmissionDecision.Admit;
    }

    /// <summary>
    /// The stream's wait for a queued request; a client that leaves (<paramref name="aborted"/>) is evicted.
    /// Pooled builder: a queued request allocates no state machine in steady state.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<AdmissionOutcome> WaitAsync(FlowTicket ticket, CancellationToken aborted)
    {
        using (aborted.Register(static t => ((FlowTicket)t!).Cancel(), ticket))
            return await ticket.Outcome.ConfigureAwait(false);
    }

    /// <summary>How a queued request left the queue, as a decision (the reference's QueueOutcome → error mapping).</summary>
    public static AdmissionDecision AfterWait(AdmissionOutcome outcome) => outcome switch
    {
        AdmissionOutcome.Dispatched => AdmissionDecision.Admit,
        AdmissionOutcome.RejectedCapacity => AdmissionDecision.Reject(InferenceErrors.QueueFull),
        AdmissionOutcome.EvictedTTL => AdmissionDecision.Reject(InferenceErrors.QueueTtlExpired),
        AdmissionOutcome.EvictedContextCancelled => AdmissionDecision.Reject(InferenceErrors.QueueClientGone),
        _ => AdmissionDecision.Reject(InferenceErrors.QueueStopped),
    };

    /// <summary>An admitted request finished: in flow-control mode a queued one may now pass.</summary>
    public void RequestFinished() => FlowControl?.Wake();

    /// <summary>
    /// The admission the config asks for: flow control with its usage-limit policy over the whole pool's
    /// saturation when the gate is on, else legacy shedding with the config's saturation detector.
    /// </summary>
    public static AdmissionControl FromConfig(LoadedConfig? config, EndpointRegistry registry, EppMetrics metrics, string poolName, ILogger logger)
    {
        if (config is null)
            return AdmitAll;
        if (!config.FlowControlEnabled)
            return new AdmissionControl(config.SaturationDetector, null, logger);

        var spec = config.FlowControl ?? new FlowControlSpec();
        IUsageLimitPolicy usageLimit = StaticUsageLimitPolicy.Default;
        foreach (IPlugin plugin in config.Plugins) // config order: the first matching usage-limit policy
            if (plugin is IUsageLimitPolicy limit && (spec.UsageLimitPolicyPluginRef.Length == 0 || plugin.Name == spec.UsageLimitPolicyPluginRef))
            {
                usageLimit = limit;
                break;
            }
        var saturation = new PoolSaturation(registry, config.SaturationDetector);
        logger.LogInformation("Flow control on: usage ceiling {Ceiling}, max bytes {MaxBytes}, max requests {MaxRequests}, TTL {Ttl}",
            usageLimit.Ceiling(0), spec.MaxBytes, spec.MaxRequests, spec.DefaultRequestTtl);
        var queue = new FlowController(spec, saturation.Current, usageLimit,
            name => config.PluginsByName.TryGetValue(name, out var p) ? p : null, metrics: metrics, poolName: poolName);
        return new AdmissionControl(null, queue);
    }
}
