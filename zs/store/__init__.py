"""The feature store: layout, manifest, resumable writer, readers, verify/info."""
