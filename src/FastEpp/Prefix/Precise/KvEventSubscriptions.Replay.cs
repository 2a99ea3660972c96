using System.Net.Sockets;

namespace FastEpp.Prefix.Precise;

/// <summary>vLLM's replay socket (<c>replaySocketPort</c>): missed batches asked for instead of clearing the endpoint.</summary>
internal sealed partial class KvEventSubscriptions
{
    /// <summary>llm-d's replay limits: 2 s without a reply ends an attempt, 2 min in all, 30 s cool-down after a failure, ≤ 8 at once per process.</summary>
    public static readonly TimeSpan ReplayIdleTimeout = TimeSpan.FromSeconds(2), ReplayTimeout = TimeSpan.FromMinutes(2);
    private const long ReplayCooldownMs = 30_000;
    private static readonly SemaphoreSlim s_replays = new(8);

    private static bool CanReplay(EndpointStream stream) =>
        stream.ReplayFailedAt == 0 || Environment.TickCount64 - stream.ReplayFailedAt >= ReplayCooldownMs;

    /// <summary>
    /// Per-pod stream with replay: a message is applied, skipped (already applied by a replay) or held for a replay
    /// (<see cref="ZmtpSubscriber.RequestReplay"/>): a gap asks for the missed batches, a sequence regression (engine
    /// restart) clears and asks for everything; without replay (cool-down, or already tried for this message) the
    /// ingestor's own check clears on a gap, as without replaySocketPort.
    /// </summary>
    private void OnMessageWithReplay(Subscription s, ZmtpSubscriber source, ReadOnlySpan<byte> topic, ulong seq, ReadOnlySpan<byte> payload)
    {
        EndpointStream stream = s.Stream;
        lock (s.Lane.Lock)
        {
            if (stream.HasLiveSeq && seq < stream.LastLiveSeq)
            {
                // The engine renumbered from 0: a new process. Nothing indexed is known to be valid.
                s.Lane.Ingestor.Clear(stream);
                stream.HasSeq = false;
                stream.HasLiveSeq = false;
                _counters.Add(PreciseEvent.SequenceGaps);
                if (stream.ReplayTriedFor != seq && CanReplay(stream))
                {
                    stream.ReplayFrom = 0;
                    stream.ReplayTriedFor = seq;
                    source.RequestReplay();
                    return;
                }
            }
            if (stream.HasSeq && seq <= stream.LastSeq)
            {
                stream.LastLiveSeq = seq; // applied by a replay already
                stream.HasLiveSeq = true;
                return;
            }
            if (stream.HasSeq && seq != stream.LastSeq + 1 && stream.ReplayTriedFor != seq && CanReplay(stream))
            {
                stream.ReplayFrom = stream.LastSeq + 1;
                stream.ReplayTriedFor = seq;
                source.RequestReplay();
                return;
            }
            s.Lane.Ingestor.Apply(stream, topic, seq, payload);
            stream.LastLiveSeq = seq;
            stream.HasLiveSeq = true;
        }
    }

    public async ValueTask ReplayAsync(ZmtpSubscriber source, CancellationToken ct)
    {
        if (Find(source) is not { } s || s.ReplayPort <= 0)
            return;
        EndpointStream stream = s.Stream;
        ulong from = stream.ReplayFrom;
        int replayed = 0;
        string? failure = null;
        using var total = CancellationTokenSource.CreateLinkedTokenSource(ct);
        total.CancelAfter(ReplayTimeout);
        bool admitted = false;
        try
        {
            admitted = await s_replays.WaitAsync(ReplayTimeout, total.Token).ConfigureAwait(false);
            if (!admitted)
                failure = "no replay capacity (8 at once) within 2 min";
            ulong expected = from;
            bool complete = false;
            int noProgress = 0;
            while (admitted && failure is null && !complete)
            {
                // One attempt: an attempt that stops answering (2 s) or breaks off is retried from where it got to, as
                // llm-d does, until one completes, 3 in a row bring nothing, or 2 min pass.
                int attemptReplayed = 0;
                string? broke = null;
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(total.Token);
                idle.CancelAfter(ReplayIdleTimeout);
                ZmtpReplayClient client;
                try
                {
                    client = await ZmtpReplayClient.ConnectAsync(s.Host, s.ReplayPort, idle.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is SocketException or IOException or ZmtpException || (e is OperationCanceledException && !total.IsCancellationRequested))
                {
                    failure = "cannot connect: " + (e is OperationCanceledException ? "no answer within 2 s" : e.Message);
                    break;
                }
                using (client)
                {
                    try
                    {
                        await client.SendRequestAsync(expected, idle.Token).ConfigureAwait(false);
                        while (true)
                        {
                            idle.CancelAfter(ReplayIdleTimeout);
                            ReplayFrame reply = await client.ReceiveAsync(idle.Token).ConfigureAwait(false);
                            if (reply.Kind == ReplayFrameKind.End)
                            {
                                complete = true;
                                if (replayed == 0 && from > 0)
                                    failure = $"sequence {from} is no longer in the engine's replay buffer";
                                break;
                            }
                            if (reply.Kind == ReplayFrameKind.Malformed)
                            {
                                failure = $"a malformed reply of {reply.Frames} frames (replay needs vLLM ≥ v0.26: [topic][seq][payload])";
                                break;
                            }
                            lock (s.Lane.Lock)
                            {
                                if (attemptReplayed == 0 && reply.Seq > expected)
                                {
                                    // The engine's buffer no longer reaches back: what was missed (removals too) is unknown.
                                    s.Lane.Ingestor.Clear(stream);
                                    stream.HasSeq = false;
                                    _counters.Add(PreciseEvent.SequenceGaps);
                                    expected = reply.Seq;
                                }
                                if (reply.Seq != expected)
                                {
                                    broke = $"incomplete replay: expected sequence {expected}, got {reply.Seq}";
                                    break;
                                }
                                if (!stream.HasSeq || reply.Seq == stream.LastSeq + 1)
                                    s.Lane.Ingestor.Apply(stream, reply.Topic.Span, reply.Seq, reply.Payload.Span);
                            }
                            _counters.Add(PreciseEvent.ReplayedBatches);
                            replayed++;
                            attemptReplayed++;
                            expected++;
                        }
                    }
                    catch (OperationCanceledException) when (!total.IsCancellationRequested)
                    {
                        broke = "no reply for 2 s";
                    }
                    catch (Exception e) when (e is SocketException or IOException or ZmtpException)
                    {
                        broke = e.Message;
                    }
                }
                if (failure is not null || complete)
                    break;
                if (attemptReplayed == 0 && ++noProgress >= 3)
                {
                    failure = broke + " (3 attempts without progress)";
                    break;
                }
                if (attemptReplayed > 0)
                    noProgress = 0;
                await Task.Delay(100, total.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return; // stopping
        }
        catch (OperationCanceledException)
        {
            failure = "timed out";
        }
        catch (Exception e) when (e is SocketException or IOException or ZmtpException or ObjectDisposedException)
        {
            failure = e.Message;
        }
        finally
        {
            if (admitted)
                s_replays.Release();
        }
        if (failure is null)
        {
            stream.ReplayFailedAt = 0;
            Logger.LogInformation("Replayed {Count} KV-event batches of {Endpoint} from sequence {From} (tcp://{Host}:{Port})", replayed, s.Name, from, s.Host, s.ReplayPort);
            return;
        }
        lock (s.Lane.Lock)
        {
            s.Lane.Ingestor.Clear(stream);
            stream.HasSeq = false;
        }
        stream.ReplayFailedAt = Math.Max(1, Environment.TickCount64);
        _counters.Add(PreciseEvent.ReplayFailures);
        Logger.LogWarning("Replay of {Endpoint}'s KV events from sequence {From} at tcp://{Host}:{Port} failed ({Failure}) after {Count} batches: its entries are cleared; no replay for 30 s",
            s.Name, from, s.Host, s.ReplayPort, failure, replayed);
    }
}
