using FastEpp.Scheduling;

namespace FastEpp.Admission.Policies;

/// <summary>The saturation at or above which a band gets nothing dispatched (the reference's UsageLimitPolicy).</summary>
internal interface IUsageLimitPolicy : IPlugin
{
    double Ceiling(int priority);
}
