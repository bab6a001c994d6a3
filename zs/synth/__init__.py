"""The synthetic world (zs synth), segmenter training (zs train-segmenter) and the tiny CLIP.

Modules: ``world`` (classes, attributes, split, semantic embeddings), ``render``
(one image), ``dataset`` (COCO panoptic writer, ``write_synth``), ``train`` +
``train_data`` + ``segmenter_config`` (``train_segmenter``), ``quality``
(``segmenter_quality``), ``clip_train`` / ``clip_eval`` (tiny CLIP), ``assets``
(shipped models). Nothing here imports torch at import time.
"""
