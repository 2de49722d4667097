"""Contracts and plumbing every part shares: the plug-in registries and names, frames and their
conversions, the memory budget and tiling, video decoding, errors, paths and the configuration
read from the environment (docs/architecture.md)."""
