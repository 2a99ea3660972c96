using Envoy.Service.ExtProc.V3;
using FastEpp.Admission;
using FastEpp.Requests;
using Grpc.Core;
using Microsoft.Extensions.ObjectPool;

namespace FastEpp.ExtProc;

/// <summary>
/// <c>envoy.service.ext_proc.v3.ExternalProcessor/Process</c>: one bidirectional stream per HTTP
/// request. Reads messages, lets <see cref="StreamHandler"/> decide, writes the replies in order.
/// Failure tiers (docs/architecture.md): bad request → ImmediateResponse then OK; protocol misuse →
/// InvalidArgument; anything unexpected → logged, Unknown status; the process and other streams live on.
/// </summary>
internal sealed partial class ExtProcService(RequestServices services, ILogger<ExtProcService> logger)
    : ExternalProcessor.ExternalProcessorBase
{
    // Per-stream state is pooled: the handler with its request state, director and response processor
    // (dictionaries, body segments, parser and scheduler scratch) is reused.
    private readonly ObjectPool<StreamHandler> _handlers =
        new DefaultObjectPool<StreamHandler>(new HandlerPolicy(services), Environment.ProcessorCount * 64);

    private sealed class HandlerPolicy(RequestServices services) : PooledObjectPolicy<StreamHandler>
    {
        public override StreamHandler Create() => new(services);
        public override bool Return(StreamHandler obj) => true;
    }

    public override async Task Process(IAsyncStreamReader<ProcessingRequest> requestStream,
        IServerStreamWriter<ProcessingResponse> responseStream, ServerCallContext context)
    {
        var handler = _handlers.Get();
        var outbox = handler.Outbox;
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return; // client went away: nothing to answer (spec §2.13)
                }
                catch (IOException)
                {
                    return;
                }
                if (!more)
                    return;

                outbox.Clear();
                var outcome = handler.Handle(requestStream.Current, outbox, out var protocolError);
                while (outcome is StreamHandler.Outcome.AwaitAdmission or StreamHandler.Outcome.AwaitPreparation)
                {
                    if (outcome == StreamHandler.Outcome.AwaitPreparation)
                    {
                        // A scheduler plugin's I/O (tokenization at a model server), bounded by the plugin's own timeout.
                        // Awaited to the end even if the client left: it writes into this pooled handler's request.
                        await handler.Preparation!.ConfigureAwait(false);
                        outcome = handler.ResumeAfterPreparation(outbox);
                        continue;
                    }
                    // Flow control: the request waits in its queue; a client that leaves is evicted.
                    var admitted = await AdmissionControl.WaitAsync(handler.Ticket!, context.CancellationToken).ConfigureAwait(false);
                    outcome = handler.ResumeAfterAdmission(admitted, outbox);
                }
                foreach (var reply in outbox)
                    await responseStream.WriteAsync(reply, context.CancellationToken).ConfigureAwait(false);
                switch (outcome)
                {
                    case StreamHandler.Outcome.EndOk:
                        if (handler.LastError is { } e)
                            LogRequestError(handler.RequestId, (int)e.HttpStatus, e.ToString());
                        return;
                    case StreamHandler.Outcome.ProtocolError:
                        LogProtocolError(handler.RequestId, protocolError!);
                        throw new RpcException(new Status(StatusCode.InvalidArgument, "failed to handle request: " + protocolError));
                }
            }
        }
        catch (RpcException)
        {
            throw;
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
        }
        catch (IOException) when (context.CancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            LogUnexpected(ex, handler.RequestId);
            throw new RpcException(new Status(StatusCode.Unknown, "failed to handle request: " + ex.Message));
        }
        finally
        {
            handler.Reset();
            outbox.Clear();
            _handlers.Return(handler);
        }
    }

    [LoggerMessage(1001, LogLevel.Information, "Request {RequestId} answered with HTTP {Status}: {Error}")]
    private partial void LogRequestError(string requestId, int status, string error);

    [LoggerMessage(1002, LogLevel.Warning, "Protocol error on ext_proc stream (request {RequestId}): {Error}")]
    private partial void LogProtocolError(string requestId, string error);

    [LoggerMessage(1003, LogLevel.Error, "Unexpected failure handling request {RequestId}")]
    private partial void LogUnexpected(Exception ex, string requestId);
}
