"""zs: zero-shot segmentation research toolkit.

Run a frozen Mask2Former once (``zs extract``) into a feature store, then fit
generators, refit heads and evaluate from the store in seconds.
"""

__version__ = "0.1.0"
