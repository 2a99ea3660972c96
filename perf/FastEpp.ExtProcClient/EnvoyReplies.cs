using System.Text;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using Google.Protobuf.WellKnownTypes;

namespace FastEpp.ExtProcClient;

/// <summary>Reads what an ext_proc server answers the way Envoy interprets it.</summary>
public static class EnvoyReplies
{
    /// <summary><c>raw_value</c> when non-empty, else <c>value</c> (extproc.md §1.3).</summary>
    public static string ValueOf(HeaderValue header) =>
        header.RawValue.IsEmpty ? header.Value : Encoding.UTF8.GetString(header.RawValue.Span);

    /// <summary>
    /// Where Envoy sends the request: the destination header of the headers reply (case-insensitive, the last one
    /// set wins), else the same key in the <c>envoy.lb</c> dynamic metadata; null when the EPP picked nothing.
    /// </summary>
    public static string? Destination(CommonResponse? headersResponse, Struct? dynamicMetadata)
    {
        string? destination = null;
        var setHeaders = headersResponse?.HeaderMutation?.SetHeaders;
        if (setHeaders is not null)
        {
            for (int i = 0; i < setHeaders.Count; i++)
            {
                HeaderValue? h = setHeaders[i].Header;
                if (h is not null && h.Key.Equals(EnvoyMessages.DestinationHeader, StringComparison.OrdinalIgnoreCase))
                    destination = ValueOf(h);
            }
        }
        if (string.IsNullOrEmpty(destination) && dynamicMetadata is not null &&
            dynamicMetadata.Fields.TryGetValue(EnvoyMessages.LbNamespace, out Value? lb) && lb.StructValue is { } lbs &&
            lbs.Fields.TryGetValue(EnvoyMessages.DestinationHeader, out Value? dv) && dv.KindCase == Value.KindOneofCase.StringValue)
        {
            destination = dv.StringValue;
        }
        return string.IsNullOrEmpty(destination) ? null : destination;
    }

    /// <summary>The destination of a request-headers reply; null for any other reply or when none was picked.</summary>
    public static string? Destination(ProcessingResponse reply) =>
        reply.ResponseCase == ProcessingResponse.ResponseOneofCase.RequestHeaders
            ? Destination(reply.RequestHeaders.Response, reply.DynamicMetadata)
            : null;

    /// <summary>The HTTP status of an immediate response as a number; 0 when the server left it unset.</summary>
    public static int StatusOf(ImmediateResponse response) => response.Status is null ? 0 : (int)response.Status.Code;
}
