"""Inference from the cache, metrics, full-image evaluation, FAISS diagnostics, reports."""
