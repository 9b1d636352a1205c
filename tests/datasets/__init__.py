"""Tests of data set definitions: `ctpipe init` and any table through the pipeline."""
