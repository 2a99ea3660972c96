using System.Buffers;
using System.Diagnostics;
using CommunityToolkit.HighPerformance.Buffers;
using Envoy.Config.Core.V3;
using FastEpp.Admission;
using FastEpp.Body;
using FastEpp.Endpoints;

namespace FastEpp.Requests;

/// <summary>
/// What happens to an inference request once its body is in (spec extproc.md §2.3, the reference's director):
/// parse → model rewrite → objective priority → candidates (subset hint) → admission → schedule → body
/// mutation. Returns a <see cref="RequestDecision"/>; knows nothing of ext_proc messages or stream phases.
/// One per stream, pooled with it; per-request work allocates nothing in steady state.
/// </summary>
internal sealed class RequestDirector(RequestServices services, InferenceRequest request)
{
    // A body that arrived in chunks, copied once (see Direct); kept across requests of the stream.
    private byte[]? _contiguous;

    /// <summary>The queued request (after <see cref="RequestVerdict.Queued"/>, until <see cref="Resume"/>).</summary>
    public FlowTicket? Ticket { get; private set; }

    /// <summary>The scheduler's pre-scheduling I/O (after <see cref="RequestVerdict.Preparing"/>, until <see cref="ContinueAfterPreparation"/>).</summary>
    public Task? Preparation { get; private set; }

    /// <summary>§2.2 step 3: a request without a body goes to a uniformly random endpoint; no parsing, no scheduler.</summary>
    public RequestDecision RouteBodyless()
    {
        var snapshot = services.Registry.Current;
        if (snapshot.Count == 0)
            return RequestDecision.Rejected(InferenceErrors.NoPods);
        var endpoint = snapshot.Endpoints[Random.Shared.Next(snapshot.Count)];
        // The reference concatenates ip + ":" + port here without IPv6 brackets (spec §2.2, bug-compatible).
        string destination = endpoint.Address + ":" + endpoint.Port;
        request.Track(endpoint);
        return RequestDecision.Routed(destination, default);
    }

    /// <summary>The whole request body has arrived: decide. The work is the orchestration span.</summary>
    public RequestDecision Direct(ReadOnlySequence<byte> received, Metadata? metadata)
    {
        using var orchestration = request.Span is null ? null : services.Tracing!.StartOrchestration(request.Span);
        RequestDecision decision = DirectCore(received, metadata);
        if (orchestration is not null)
        {
            orchestration.SetTag("target_model", request.TargetModel);
            orchestration.SetTag("request_prio", request.Scheduling.Priority);
        }
        return decision;
    }

    private RequestDecision DirectCore(ReadOnlySequence<byte> received, Metadata? metadata)
    {
        var scheduling = request.Scheduling;
        scheduling.RequestSize = received.Length;
        // Utf8JsonReader is several times slower over many segments than over one span, and 62,000-byte
        // pieces would straddle Envoy's chunks, so a body that arrived in chunks is copied once into a
        // contiguous pooled buffer that serves parsing, splicing and the outgoing pieces.
        var bodyBytes = received.IsSingleSegment ? received : Contiguous(received);
        scheduling.BodyBytes = bodyBytes;

        // Parse (§2.3 step 2, §4.1).
        var parsed = request.Parsed;
        parsed.Reset();
        if (services.Parser.ParseRequest(bodyBytes, request.Headers, parsed, out var parseError) != ParseStatus.Ok)
            return RequestDecision.Rejected(InferenceErrors.BadBody(parseError));
        scheduling.Body = parsed;

        // Step 1: model extraction and rewrite (header first, then the InferenceModelRewrite rules), only for a
        // JSON body; vLLM gRPC and passthrough bodies have no model: incoming stays "", target is the header's or "".
        if (parsed.Format == BodyFormat.Json)
        {
            if (!parsed.HasModel)
                return RequestDecision.Rejected(InferenceErrors.ModelMissing);
            request.IncomingModel = parsed.Model;
            if (request.TargetModel.Length == 0)
                request.TargetModel = request.IncomingModel;
            var rule = services.ModelRewrites().FindRule(request.IncomingModel);
            if (rule is not null && rule.Targets.Length > 0)
            {
                request.TargetModel = rule.PickTarget();
                services.Metrics.ModelRewrite(rule.ObjectName, request.IncomingModel, request.TargetModel);
            }
        }
        scheduling.TargetModel = request.TargetModel;

        // Step 2: priority from the InferenceObjective named by the objective header.
        scheduling.Priority = scheduling.ObjectiveKey.Length > 0 ? services.PriorityLookup(scheduling.ObjectiveKey) ?? 0 : 0;

        // Steps 4–5: candidates, then admission (shed, queue, or go on).
        var snapshot = services.Registry.Current;
        int[] rented = ArrayPool<int>.Shared.Rent(Math.Max(1, snapshot.Count));
        try
        {
            int count = SubsetHint.SelectCandidates(snapshot, metadata, services.DisableEndpointSubsetFilter, rented);
            var candidates = rented.AsSpan(0, count);
            var admission = services.Admission.Admit(scheduling, request.IncomingModel, snapshot, candidates);
            switch (admission.Verdict)
            {
                case AdmissionVerdict.Reject:
                    return RequestDecision.Rejected(admission.Error);
                case AdmissionVerdict.Wait:
                    Ticket = admission.Ticket;
                    return RequestDecision.Queued;
            }
            return RouteOrPrepare(snapshot, candidates);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>The queued request left the queue: route it over the pool as it is now, or answer the queue's error.</summary>
    public RequestDecision Resume(AdmissionOutcome outcome, Metadata? metadata)
    {
        Ticket = null;
        var admission = AdmissionControl.AfterWait(outcome);
        if (admission.Verdict == AdmissionVerdict.Reject)
            return RequestDecision.Rejected(admission.Error);
        var snapshot = services.Registry.Current;
        int[] rented = ArrayPool<int>.Shared.Rent(Math.Max(1, snapshot.Count));
        try
        {
            int count = SubsetHint.SelectCandidates(snapshot, metadata, services.DisableEndpointSubsetFilter, rented);
            return RouteOrPrepare(snapshot, rented.AsSpan(0, count));
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The scheduler's I/O step is done: schedule over the pool as it is now (the prepared data, e.g. token ids, is on
    /// the request). Admission already passed; the candidates are selected again, as after a queue wait.
    /// </summary>
    public RequestDecision ContinueAfterPreparation(Metadata? metadata)
    {
        Preparation = null;
        var snapshot = services.Registry.Current;
        int[] rented = ArrayPool<int>.Shared.Rent(Math.Max(1, snapshot.Count));
        try
        {
            int count = SubsetHint.SelectCandidates(snapshot, metadata, services.DisableEndpointSubsetFilter, rented);
            return Route(snapshot, rented.AsSpan(0, count));
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>Step 8's asynchronous part: a plugin that needs I/O starts it here; the stream awaits it, then <see cref="ContinueAfterPreparation"/>.</summary>
    private RequestDecision RouteOrPrepare(EndpointSnapshot snapshot, Span<int> candidates)
    {
        if (candidates.Length > 0 && services.Scheduler.BeginPrepare(request.Scheduling, snapshot, candidates) is { IsCompleted: false } preparing)
        {
            Preparation = preparing;
            return RequestDecision.Preparing;
        }
        return Route(snapshot, candidates);
    }

    /// <summary>The stream ended while queued: leave the queue.</summary>
    public void CancelWait()
    {
        Ticket?.Cancel();
        Ticket = null;
    }

    private RequestDecision Route(EndpointSnapshot snapshot, Span<int> candidates)
    {
        if (candidates.Length == 0)
            return RequestDecision.Rejected(InferenceErrors.NoCandidates);

        // Step 8: scheduler. The result span holds the primary and every fallback the pickers may return.
        var scheduler = services.Scheduler;
        var scheduling = request.Scheduling;
        int maxResults = Math.Max(1, scheduler.MaxResults);
        Span<int> chosen = maxResults <= 64 ? stackalloc int[64] : new int[maxResults];
        chosen = chosen[..maxResults];
        long scheduleStart = Stopwatch.GetTimestamp();
        int n = scheduler.Schedule(scheduling, snapshot, candidates, chosen, out var scheduleError);
        services.Metrics.SchedulerAttempt(Stopwatch.GetElapsedTime(scheduleStart).TotalSeconds, request.TargetModel,
            n > 0 ? snapshot.Endpoints[chosen[0]] : null);
        if (n < 0)
            return RequestDecision.Rejected(InferenceErrors.NoTarget(scheduleError));
        if (n == 0)
            return RequestDecision.Rejected(InferenceErrors.NoResults);
        chosen = chosen[..n];
        string destination = JoinDestinations(snapshot, chosen);
        scheduler.PreRequest(scheduling, snapshot, chosen);
        request.Track(snapshot.Endpoints[chosen[0]]);

        // Step 10: the body goes back unchanged unless the model was rewritten; then only the value is spliced.
        // Pieces are sliced without copying: from the received chunk when the body came in one, else
        // from the contiguous parse copy (valid until Reset; the stream writes its outbox first).
        ReadOnlySequence<byte> bodyBytes = scheduling.BodyBytes;
        ReadOnlySequence<byte> outgoing = bodyBytes;
        if (request.Parsed.Format == BodyFormat.Json && !string.Equals(request.TargetModel, request.IncomingModel, StringComparison.Ordinal))
        {
            var writer = new ArrayPoolBufferWriter<byte>((int)Math.Min(int.MaxValue, bodyBytes.Length + request.TargetModel.Length * 6 + 16));
            RequestBodyWriter.WriteWithModel(bodyBytes, request.Parsed, request.TargetModel, writer);
            outgoing = new ReadOnlySequence<byte>(writer.WrittenSpan.ToArray()); // rare path: one copy the message can own
            writer.Dispose();
        }
        request.StreamingResponse = request.Parsed.Stream;
        request.Scheduled(outgoing.Length);
        return RequestDecision.Routed(destination, outgoing);
    }

    private ReadOnlySequence<byte> Contiguous(in ReadOnlySequence<byte> body)
    {
        int length = checked((int)body.Length);
        if (_contiguous is null || _contiguous.Length < length)
        {
            if (_contiguous is not null)
                ArrayPool<byte>.Shared.Return(_contiguous);
            _contiguous = ArrayPool<byte>.Shared.Rent(length);
        }
        body.CopyTo(_contiguous);
        return new ReadOnlySequence<byte>(_contiguous, 0, length);
    }

    private static string JoinDestinations(EndpointSnapshot snapshot, ReadOnlySpan<int> chosen)
    {
        if (chosen.Length == 1)
            return snapshot.Endpoints[chosen[0]].HostPort;
        var parts = new string[chosen.Length];
        for (int i = 0; i < chosen.Length; i++)
            parts[i] = snapshot.Endpoints[chosen[i]].HostPort;
        return string.Join(',', parts);
    }

    /// <summary>Between streams: leave any queue, keep only a modest contiguous buffer parked.</summary>
    public void Reset()
    {
        CancelWait();
        if (_contiguous is { Length: > 1 << 20 })
        {
            ArrayPool<byte>.Shared.Return(_contiguous);
            _contiguous = null;
        }
    }
}
