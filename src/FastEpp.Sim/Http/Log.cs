namespace FastEpp.Sim.Http;

/// <summary>Source-generated log messages of the simulator (event ids 9xxx).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 9001, EventName = "ReplicaKilled", Level = LogLevel.Warning, Message = "replica {Replica} ({Endpoint}) killed")]
    public static partial void ReplicaKilled(ILogger logger, int replica, string endpoint);

    [LoggerMessage(EventId = 9002, EventName = "ReplicaRevived", Level = LogLevel.Warning, Message = "replica {Replica} ({Endpoint}) revived")]
    public static partial void ReplicaRevived(ILogger logger, int replica, string endpoint);
}
