using System.Buffers;
using FastEpp.Body;

namespace FastEpp.Scheduling;

/// <summary>
/// What the scheduler sees of one request (spec extproc.md §2.3.1 step 3). Owned by the ext_proc
/// stream and reused for each request on it; valid only during <see cref="IRequestScheduler.Schedule"/>
/// and <see cref="IRequestScheduler.PreRequest"/>.
/// </summary>
internal sealed class SchedulingRequest
{
    public string RequestId { get; set; } = "";
    /// <summary>Model after rewrite (the reference's TargetModel); "" for body-less parsers.</summary>
    public string TargetModel { get; set; } = "";
    /// <summary>Parsed body; null when the parser produced none.</summary>
    public ParsedRequest? Body { get; set; }
    /// <summary>The raw request body as received (segments of Envoy chunks).</summary>
    public ReadOnlySequence<byte> BodyBytes { get; set; }
    /// <summary>Request headers, key exactly as received (Envoy sends lowercase).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; set; } = EmptyHeaders;
    public int Priority { get; set; }
    public string FairnessId { get; set; } = "default-flow";
    public string ObjectiveKey { get; set; } = "";
    public long RequestSize { get; set; }

    /// <summary>
    /// Scheduler-owned per-stream scratch (buffers, prefix hashes, in-flight charge); created on the
    /// first decision and kept across <see cref="Reset"/> so later decisions allocate nothing.
    /// </summary>
    internal RequestScratch? Scratch { get; set; }

    /// <summary>
    /// The prompt's token ids, prepared before scheduling by an <see cref="IAsyncPreparer"/> (the precise prefix
    /// producer's render call); per stream, reused.
    /// </summary>
    internal PromptTokens Tokens { get; } = new();

    private static readonly Dictionary<string, string> EmptyHeaders = new();

    public void Reset()
    {
        RequestId = "";
        TargetModel = "";
        Body = null;
        BodyBytes = default;
        Headers = EmptyHeaders;
        Priority = 0;
        FairnessId = "default-flow";
        ObjectiveKey = "";
        RequestSize = 0;
        Tokens.Count = PromptTokens.NotPrepared;
    }
}

/// <summary>Token ids of a request's prompt (<see cref="SchedulingRequest.Tokens"/>).</summary>
internal sealed class PromptTokens
{
    /// <summary><see cref="Count"/>: nobody tokenized this request.</summary>
    public const int NotPrepared = -1;

    /// <summary><see cref="Count"/>: tokenization was tried and failed (already counted and logged by its producer).</summary>
    public const int Failed = -2;

    /// <summary>The ids (grown when needed, kept across requests).</summary>
    public uint[] Ids = new uint[256];

    /// <summary>How many of <see cref="Ids"/> are this request's, or <see cref="NotPrepared"/> / <see cref="Failed"/>.</summary>
    public int Count = NotPrepared;
}
