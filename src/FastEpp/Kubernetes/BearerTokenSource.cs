namespace FastEpp.Kubernetes;

/// <summary>
/// Supplies the bearer token for each request. A file-backed token is re-read when the cached copy
/// is older than <see cref="FileRefreshInterval"/>: projected service-account tokens rotate (about
/// hourly), and client-go re-reads the file on the same one-minute cadence.
/// </summary>
internal sealed class BearerTokenSource
{
    public static readonly TimeSpan FileRefreshInterval = TimeSpan.FromMinutes(1);

    private readonly string? _staticToken;
    private readonly string? _path;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private string? _cached;
    private long _readAt;

    private BearerTokenSource(string? staticToken, string? path, TimeProvider? time)
    {
        _staticToken = staticToken;
        _path = path;
        _time = time ?? TimeProvider.System;
    }

    public static BearerTokenSource FromValue(string token) => new(token, null, null);

    public static BearerTokenSource FromFile(string path, TimeProvider? time = null) => new(null, path, time);

    public string? FilePath => _path;

    /// <summary>The current token; a failed re-read keeps the last good token (the file may be mid-rotation).</summary>
    public string? GetToken()
    {
        if (_staticToken is not null)
            return _staticToken;
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            if (_cached is null || _time.GetElapsedTime(_readAt, now) >= FileRefreshInterval)
            {
                try
                {
                    string text = File.ReadAllText(_path!).Trim();
                    if (text.Length > 0)
                        _cached = text;
                    _readAt = now;
                }
                catch (IOException) when (_cached is not null)
                {
                }
                catch (UnauthorizedAccessException) when (_cached is not null)
                {
                }
            }
            return _cached;
        }
    }
}
