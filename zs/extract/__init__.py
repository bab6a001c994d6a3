"""Segmenter loading, datasets, matching, CLIP tokens and the extraction job."""
