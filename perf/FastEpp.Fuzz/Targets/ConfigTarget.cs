using System.Text;
using FastEpp.Configuration;

namespace FastEpp.Fuzz.Targets;

/// <summary>
/// Configuration/ConfigLoader.Load over mutated EndpointPickerConfig YAML. Property: a config loads or the
/// loader throws ConfigException (the start-up error the operator sees), never any other exception.
/// </summary>
internal sealed class ConfigTarget : FuzzTarget
{
    public override string Name => "config";

    public override string Property => "loads or throws ConfigException, nothing else";

    public override IEnumerable<byte[]> ExtraSeeds()
    {
        yield return Encoding.UTF8.GetBytes(ConfigLoader.DefaultConfigText);
    }

    public override int Run(byte[] input)
    {
        string text = Encoding.UTF8.GetString(input);
        if (text.Length == 0)
            return 0; // empty = the built-in default
        try
        {
            var loaded = ConfigLoader.Load(text);
            return 1 + loaded.Plugins.Count;
        }
        catch (ConfigException ex)
        {
            return 2 + (ex.Message.Length & 255);
        }
    }
}
