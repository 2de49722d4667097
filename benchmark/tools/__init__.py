"""Tools around the run: ``bench enhance`` (a method on a real video or image) and the
``bench recipe`` pipelines (docs/architecture.md)."""
