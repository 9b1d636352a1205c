"""Data set definitions: `ctpipe init` infers one from a table (infer.py) and writes it (writer.py)."""
