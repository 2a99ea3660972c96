using FastEpp.Requests;

namespace FastEpp.Admission;

/// <summary>What admission says about a request: go on, answer this error, or wait for the ticket.</summary>
internal enum AdmissionVerdict { Admit, Reject, Wait }

/// <summary>The answer of <see cref="AdmissionControl"/> (a value: nothing allocated to say "admit").</summary>
internal readonly struct AdmissionDecision
{
    private AdmissionDecision(AdmissionVerdict verdict, InferenceError error, FlowTicket? ticket)
    {
        Verdict = verdict;
        Error = error;
        Ticket = ticket;
    }

    public static AdmissionDecision Admit => default;

    public static AdmissionDecision Reject(InferenceError error) => new(AdmissionVerdict.Reject, error, null);

    public static AdmissionDecision Wait(FlowTicket ticket) => new(AdmissionVerdict.Wait, default, ticket);

    public AdmissionVerdict Verdict { get; }

    /// <summary>Set when <see cref="Verdict"/> is <see cref="AdmissionVerdict.Reject"/>.</summary>
    public InferenceError Error { get; }

    /// <summary>Set when <see cref="Verdict"/> is <see cref="AdmissionVerdict.Wait"/>.</summary>
    public FlowTicket? Ticket { get; }
}
