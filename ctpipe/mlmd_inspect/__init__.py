"""Read-only inspection of TFX ML Metadata stores (`ctpipe inspect`, `ctpipe report`)."""
