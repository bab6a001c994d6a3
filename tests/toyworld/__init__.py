"""The test worlds (not part of the installed package).

* ``toyworld.store``: a small, valid feature store written without a segmenter
  (``write_toy_store``): class means linear in the text embeddings, CLIP tokens,
  a seen head and COCO-panoptic ground truth;
* ``toyworld.extract_inputs``: a tiny random-init Mask2Former segmenter folder, a
  tiny CLIP, and a tiny COCO-panoptic dataset, for the extraction path;
* ``toyworld.adapt``: that store and a generator sampling near its class means, for the head refits;
* ``toyworld.predictions``: trained-like Mask2Former outputs at COCO geometry,
  for the evaluation fast-path and mask-codec checks.

Tests import it as ``toyworld`` (pyproject's pytest ``pythonpath``); benchmarks put
``tests/`` on ``sys.path`` first.
"""
