"""Tests of inspect and the report."""
