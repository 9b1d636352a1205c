"""Custom TFX components: each a spec, a thin executor, and plain functions holding the logic."""
