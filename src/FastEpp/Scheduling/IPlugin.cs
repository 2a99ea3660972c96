namespace FastEpp.Scheduling;

/// <summary>
/// Every configured plugin: its kebab-case type (one of <see cref="Configuration.PluginTypes"/>) and its
/// configured name (defaults to the type). Extension-point contracts below extend it; a plugin may
/// implement several (the reference's utilization-detector is a Filter and a saturation detector).
/// </summary>
internal interface IPlugin
{
    string TypeName { get; }

    string Name { get; }
}

/// <summary>
/// The common part of most plugins: the configured name. The type name comes from the subclass's own
/// <c>PluginType</c> (<c>public override string TypeName => Type.Name;</c>).
/// </summary>
internal abstract class Plugin(string name) : IPlugin
{
    public abstract string TypeName { get; }

    public string Name { get; } = name;
}

/// <summary>Scorer intent as declared by the reference (informational only).</summary>
internal enum ScorerCategory
{
    Affinity,
    Distribution,
    Balance,
}

/// <summary>
/// A filter narrows the candidate list in place: <paramref name="candidates"/> holds indices into
/// <c>ctx.Snapshot.Endpoints</c>; the filter compacts the survivors to the front (any order it likes,
/// usually input order) and returns their count. Returning 0 stops the chain and fails the profile.
/// </summary>
internal interface IFilter : IPlugin
{
    int Filter(in SchedulingContext ctx, Span<int> candidates);
}

/// <summary>
/// A scorer writes one score per candidate into <paramref name="scores"/> (same positions as
/// <paramref name="candidates"/>). Contract: [0,1]; the framework clamps anyway.
/// </summary>
internal interface IScorer : IPlugin
{
    ScorerCategory Category { get; }

    void Score(in SchedulingContext ctx, ReadOnlySpan<int> candidates, Span<double> scores);
}

/// <summary>
/// A picker chooses from scored candidates: writes endpoint indices, best first, into
/// <paramref name="result"/> and returns how many. It may reorder <paramref name="candidates"/> and
/// <paramref name="totals"/> (they are scratch).
/// </summary>
internal interface IPicker : IPlugin
{
    int Pick(in SchedulingContext ctx, Span<int> candidates, Span<double> totals, Span<int> result);

    /// <summary>The configured <c>maxNumOfEndpoints</c> (≥ 1): the most endpoints one pick returns.</summary>
    int MaxEndpoints { get; }
}

/// <summary>
/// Chooses which profiles run and which result is primary (reference ProfileHandler). Profiles are
/// identified by their index in the scheduler's profile list; <paramref name="hasResult"/>[p] says
/// whether profile p has already run (successfully or not).
/// </summary>
internal interface IProfileHandler : IPlugin
{
    /// <summary>Start-up check of the profile set; returns the reference's error text or null.</summary>
    string? Validate(IReadOnlyList<SchedulerProfile> profiles);

    /// <summary>Writes the indices of the profiles to run next into <paramref name="toRun"/>; 0 ends the loop.</summary>
    int Pick(in SchedulingContext ctx, ReadOnlySpan<bool> hasResult, Span<int> toRun);

    /// <summary>
    /// Given each profile's outcome (result count, or −1 when it ran and failed, or −2 when it never
    /// ran), returns the primary profile index, or −1 with <paramref name="error"/> set.
    /// </summary>
    int ProcessResults(in SchedulingContext ctx, IReadOnlyList<SchedulerProfile> profiles, ReadOnlySpan<int> outcomes, out string? error);
}

/// <summary>
/// A data producer (reference PrepareData) runs once per request before the profiles, on the full
/// candidate list, and writes typed per-endpoint data into the request's <see cref="RequestScratch"/>.
/// </summary>
internal interface IDataProducer : IPlugin
{
    void Prepare(in SchedulingContext ctx, ReadOnlySpan<int> candidates);
}

/// <summary>Runs after a successful decision, before forwarding (reference PreRequest).</summary>
internal interface IPreRequest : IPlugin
{
    /// <summary><paramref name="chosen"/>: the primary profile's endpoints, best first.</summary>
    void PreRequest(SchedulingRequest request, RequestScratch scratch, Endpoints.EndpointSnapshot snapshot, ReadOnlySpan<int> chosen);
}

/// <summary>Runs when a scheduled request's response completed or its stream ended (reference ResponseBody EndOfStream).</summary>
internal interface IResponseComplete : IPlugin
{
    void ResponseComplete(SchedulingRequest request, RequestScratch scratch);
}

/// <summary>Admission-time saturation (reference SaturationDetector): 0 = idle, ≥ 1 = saturated.</summary>
internal interface ISaturationDetector : IPlugin
{
    double Saturation(Endpoints.EndpointSnapshot snapshot, ReadOnlySpan<int> candidates);
}

/// <summary>
/// A data producer that needs I/O before the (synchronous, allocation-free) scheduling cycle — e.g. the precise
/// prefix producer renders the prompt into token ids at a model server. The request path calls
/// <see cref="BeginPrepare"/> once per request, awaits the task off-thread (no thread-pool thread blocks on the I/O),
/// then runs <see cref="IRequestScheduler.Schedule"/>, whose <see cref="IDataProducer.Prepare"/> reads the result
/// from the request (e.g. <see cref="SchedulingRequest.Tokens"/>).
/// </summary>
internal interface IAsyncPreparer : IPlugin
{
    /// <summary>
    /// Starts the I/O for <paramref name="request"/> and returns the task to await, or null when there is nothing to
    /// wait for. Must not block, must not throw (failures are recorded on the request), and the task must end within
    /// the producer's own bound: the stream waits for it.
    /// </summary>
    Task? BeginPrepare(SchedulingRequest request, Endpoints.EndpointSnapshot snapshot, ReadOnlySpan<int> candidates);
}
