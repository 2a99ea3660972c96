namespace FastEpp.Requests;

/// <summary>Process-wide request counters of the ext_proc layer (exported on the metrics port as fastepp_extproc_*).</summary>
internal sealed class RequestStats
{
    private long _requests, _errors, _protocolErrors, _running, _completed;
    public long Requests => Interlocked.Read(ref _requests);
    public long Errors => Interlocked.Read(ref _errors);
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);
    public long Running => Interlocked.Read(ref _running);
    public long Completed => Interlocked.Read(ref _completed);
    public void Request() => Interlocked.Increment(ref _requests);
    public void Error() => Interlocked.Increment(ref _errors);
    public void ProtocolError() => Interlocked.Increment(ref _protocolErrors);
    public void Started() => Interlocked.Increment(ref _running);
    public void Finished()
    {
        Interlocked.Decrement(ref _running);
        Interlocked.Increment(ref _completed);
    }
}
