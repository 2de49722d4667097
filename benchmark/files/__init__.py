"""Model and data files: weights with their sources and checksums, the model zoo, the one
downloader, the standard data sets by name, metric weights, model sizes (docs/architecture.md)."""
