"""ctpipe's one client of ML Metadata: opening a store (`connection`), plain views of its
records (`records`, `reader`) and the few records ctpipe writes itself (`writes`).

Nothing outside this package constructs a `MetadataStore`; SQLite and MySQL-compatible
stores work wherever a store is opened.
"""
