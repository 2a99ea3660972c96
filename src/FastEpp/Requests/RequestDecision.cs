using System.Buffers;

namespace FastEpp.Requests;

/// <summary>What the director decided about the request phase.</summary>
internal enum RequestVerdict
{
    /// <summary>Send the request to <see cref="RequestDecision.Destination"/> with <see cref="RequestDecision.Body"/>.</summary>
    Routed,
    /// <summary>Answer <see cref="RequestDecision.Error"/> (ImmediateResponse) and end the stream.</summary>
    Rejected,
    /// <summary>Flow control holds the request: wait for <see cref="RequestDirector.Ticket"/>, then <see cref="RequestDirector.Resume"/>.</summary>
    Queued,
    /// <summary>A scheduler plugin does I/O first (tokenization): await <see cref="RequestDirector.Preparation"/>, then <see cref="RequestDirector.ContinueAfterPreparation"/>.</summary>
    Preparing,
}

/// <summary>The director's answer; the stream state machine turns it into ext_proc messages.</summary>
internal readonly struct RequestDecision
{
    private RequestDecision(RequestVerdict verdict, InferenceError error, string destination, ReadOnlySequence<byte> body)
    {
        Verdict = verdict;
        Error = error;
        Destination = destination;
        Body = body;
    }

    public static RequestDecision Routed(string destination, ReadOnlySequence<byte> body) => new(RequestVerdict.Routed, default, destination, body);

    public static RequestDecision Rejected(InferenceError error) => new(RequestVerdict.Rejected, error, "", default);

    public static RequestDecision Queued => new(RequestVerdict.Queued, default, "", default);

    public static RequestDecision Preparing => new(RequestVerdict.Preparing, default, "", default);

    public RequestVerdict Verdict { get; }

    public InferenceError Error { get; }

    /// <summary>The destination header and envoy.lb value: "ip:port", fallbacks comma-separated.</summary>
    public string Destination { get; }

    /// <summary>The body to forward (as received, or with the model spliced); valid until the director is reset.</summary>
    public ReadOnlySequence<byte> Body { get; }
}
