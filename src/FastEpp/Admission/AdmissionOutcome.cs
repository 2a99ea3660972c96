namespace FastEpp.Admission;

/// <summary>How a flow-controlled request left the queue (the reference's QueueOutcome; metric label values).</summary>
internal enum AdmissionOutcome { Dispatched, RejectedCapacity, RejectedOther, EvictedTTL, EvictedContextCancelled, EvictedOther }
