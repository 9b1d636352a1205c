"""ctpipe's pipeline: definition, configuration, runners, custom components and the CLI."""
