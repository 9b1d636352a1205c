"""ctpipe's setup shim: the package metadata is in pyproject.toml (PEP 621).

Kept because the project layout names it, and for tools that still call `setup.py`.
The installed package declares its real dependency ranges; TFX's Vertex image installs
it with `--no-deps` (its TFX stack stays as it is).
"""
from setuptools import setup

setup()
