"""Reports built from run directories (installed as ``benchmark.reports``)."""
