"""Evaluation of heads: metrics, the cached and full-image passes, reports, diagnostics.

``run.evaluate(cfg)`` is the stage's entry (``zs evaluate``). Sub-packages, each
importing only those before it:

- ``metrics``: exact PQ / mIoU / mAP (panopticapi, detectron2, pycocotools); ``zs metrics``.
- ``evaluation``: Mask2Former's inference, the cached and full-image passes, a
  run's predictions made again, ``zs segment``.
- ``reports``: single-run and ablation reports, plots, qualitative panels, ``zs export``.
- ``diagnose``: FAISS diagnostics of synthetic features; ``zs diagnose``.
"""
