namespace FastEpp.Configuration;

/// <summary>A configuration or plugin-construction error; <see cref="Exception.Message"/> is the reference's text.</summary>
internal sealed class ConfigException : Exception
{
    public ConfigException(string message) : base(message)
    {
    }
}
