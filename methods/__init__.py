"""Built-in method adapters (installed as ``benchmark.methods``; the folder is ``methods/``)."""
