namespace FastEpp.Kubernetes;

/// <summary>The Kubernetes client configuration could not be found or is invalid (a startup error).</summary>
internal sealed class KubeConfigException(string message, Exception? inner = null) : Exception(message, inner);
