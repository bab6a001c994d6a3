"""The synthetic world (zs synth), segmenter training (zs train-segmenter) and the tiny CLIP."""
