"""Tests of the model code."""
