using Grpc.Net.Client;

namespace FastEpp.ExtProcClient;

/// <summary>A gRPC channel to an EPP as a gateway opens it: h2c (or TLS for https://), no message size limits.</summary>
public static class ExtProcChannel
{
    /// <summary>
    /// <paramref name="target"/> is <c>host:port</c> (plaintext) or a full address. Without a
    /// <paramref name="handler"/>, one that opens more HTTP/2 connections when a connection's
    /// SETTINGS_MAX_CONCURRENT_STREAMS is reached, so hundreds of concurrent streams do not queue.
    /// The channel owns the handler.
    /// </summary>
    public static GrpcChannel Create(string target, SocketsHttpHandler? handler = null) =>
        GrpcChannel.ForAddress(target.Contains("://", StringComparison.Ordinal) ? target : "http://" + target, new GrpcChannelOptions
        {
            HttpHandler = handler ?? new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = null,
            MaxSendMessageSize = null,
        });
}
