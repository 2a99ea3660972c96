using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary>Chooses which flow of a priority band is served next (the reference's FairnessPolicy).</summary>
internal interface IFairnessPolicy : IPlugin
{
    /// <summary>The request to dispatch from <paramref name="band"/> (which has at least one flow); may keep state in <see cref="PriorityBand.FairnessCursor"/>.</summary>
    FlowTicket? PickNext(PriorityBand band);
}
