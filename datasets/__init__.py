"""Built-in data sets (installed as ``benchmark.datasets``; the folder is ``datasets/``)."""
