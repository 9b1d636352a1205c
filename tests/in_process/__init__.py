"""Tests of the in-process executors against TFX's own."""
