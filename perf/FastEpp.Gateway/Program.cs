using FastEpp.Gateway;

GatewayOptions? options = GatewayOptions.Parse(args, out string? error);
if (options is null)
{
    if (error == "help")
    {
        Console.Out.WriteLine(GatewayOptions.Usage);
        return 0;
    }
    Console.Error.WriteLine("fastepp-gateway: " + error);
    return 2;
}
await using GatewayServer gateway = GatewayServer.Create(options);
await gateway.StartAsync();
Console.Out.WriteLine("fastepp-gateway: " + options.Mode + " on " + gateway.BaseAddress +
    (options.Mode == RoutingMode.Epp ? " -> ext_proc " + options.Epp + " (failure mode " + options.FailureMode + ")" : "") +
    (options.BypassFraction > 0 ? "; bypass fraction " + options.BypassFraction.ToString(System.Globalization.CultureInfo.InvariantCulture) : "") +
    (options.Upstreams.Count > 0 ? "; upstreams " + string.Join(',', options.Upstreams) : ""));
await gateway.WaitForShutdownAsync();
return 0;
