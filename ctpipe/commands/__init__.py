"""The commands of `ctpipe`, one module per group; `ctpipe.cli` registers them."""
