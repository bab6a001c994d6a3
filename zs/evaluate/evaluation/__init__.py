"""Evaluation passes: Mask2Former's inference on a head's class probabilities, scored per image.

Modules: ``inference`` (panoptic / semantic / instance post-processing),
``image_masks`` (masks at image size), ``streaming`` (one image at a time:
inference, metrics, predictions), ``cached`` (from the store), ``full_image``
(the segmenter end to end), ``predict`` (a run directory read back, its
predictions made again), ``segment`` (``zs segment``: one image, raw outputs).
"""
