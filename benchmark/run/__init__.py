"""The run: names resolved into parts, a plan of content-addressed units, the stages each unit goes
through over the cache, the executors, the run folder and its tidy rows (docs/architecture.md)."""
