"""Built-in metrics. Each states its conventions; see ``docs/metrics.md``."""
