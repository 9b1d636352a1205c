"""Tests of the configuration, the layers, the home and the image recipe."""
