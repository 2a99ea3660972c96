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
    }
}
