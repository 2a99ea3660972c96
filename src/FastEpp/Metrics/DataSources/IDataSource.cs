using FastEpp.Scheduling;

namespace FastEpp.Metrics.DataSources;

/// <summary>
/// A data-layer source (EndpointPickerConfig <c>dataLayer.sources[].pluginRef</c>, spec scheduling.md §4): where
/// per-endpoint data comes from. The loader checks that every extractor wired to a source can read what it produces.
/// </summary>
internal interface IDataSource : IPlugin;

/// <summary>A data-layer extractor (<c>dataLayer.sources[].extractors[]</c>): turns a source's output into endpoint state.</summary>
internal interface IDataExtractor : IPlugin;
