"""Loading detectron2 Mask2Former (and PADing) checkpoints without detectron2.

``convert_checkpoint(config, checkpoint, out_dir)`` writes a zs segmenter
directory (transformers Mask2Former + preprocessing + labels, plus PADing's
``new_fc`` as a zs head). See ``docs/convert.md``.
"""

from zs.extract.d2.checkpoint import load_d2_checkpoint
from zs.extract.d2.config import D2Config, load_d2_config
from zs.extract.d2.convert import build_hf_model, convert_state_dict, to_detectron2_state_dict
from zs.extract.d2.errors import CheckpointMismatchError, D2ConfigError, UnsupportedModelError
from zs.extract.d2.export import ConversionResult, convert_checkpoint
from zs.extract.d2.spec import Mask2FormerSpec, hf_config, spec_from_config

__all__ = [
    "CheckpointMismatchError", "ConversionResult", "D2Config", "D2ConfigError", "Mask2FormerSpec",
    "UnsupportedModelError", "build_hf_model", "convert_checkpoint", "convert_state_dict", "hf_config",
    "load_d2_checkpoint", "load_d2_config", "spec_from_config", "to_detectron2_state_dict",
]
