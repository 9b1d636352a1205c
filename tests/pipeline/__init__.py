"""Tests of the pipeline: definition, runner, spans, window, components."""
