"""The object store: raw payload archive and quarantine, on a local directory or S3 (fsspec)."""
