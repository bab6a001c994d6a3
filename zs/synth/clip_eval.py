"""Zero-shot check of the tiny CLIP: caption retrieval on validation segment crops.

Each val crop is classified by its nearest caption among the K class captions
of the full vocabulary (seen and unseen); accuracy is reported for seen and
unseen classes separately, with attribute accuracy (shape / colour / pattern /
direction of the retrieved caption's class). Chance is 1/K for the class.
``unseen.class_among_unseen``: unseen crops against the unseen captions only
(the classic ZSL setting; chance 1/#unseen).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zs.synth.dataset import load_world
from zs.synth.world import caption


def load_tiny_clip(config_path: str | Path, weights_path: str | Path, device: str = "cpu"):
    """open_clip CLIP from our config JSON + fp16 state dict (float32 on ``device``, eval mode)."""
    import json

    from open_clip.model import CLIP

    cfg = json.loads(Path(config_path).read_text())
    model = CLIP(**cfg)
    from zs.artifact import load_torch_file

    state = load_torch_file(weights_path, what="CLIP weights")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval(), cfg


def clip_retrieval(config_path, weights_path, data_dir, *, split: str = "val", limit: int | None = None) -> dict:
    """Caption-retrieval accuracy (seen / unseen / per attribute) of a tiny CLIP on ``split`` crops."""
    import open_clip
    import torch
    import torch.nn.functional as F

    from zs.synth.clip_train import segment_crops, to_clip_pixels
    from zs.synth.quality import _attribute_hits

    model, cfg = load_tiny_clip(config_path, weights_path)
    world = load_world(data_dir)
    crops, labels = segment_crops(data_dir, split, cfg["vision_cfg"]["image_size"], limit, seed=1)
    tok = open_clip.tokenize([caption(c) for c in world.classes], context_length=cfg["text_cfg"]["context_length"])
    with torch.no_grad():
        txt = F.normalize(model.encode_text(tok), dim=-1)  # [K,E]
        img = torch.cat([F.normalize(model.encode_image(to_clip_pixels(crops[i:i + 256])), dim=-1)
                         for i in range(0, len(crops), 256)])  # [N,E]
    sim = (img @ txt.T).numpy()  # [N,K]
    pred = sim.argmax(1)  # [N]
    seen = world.vocabulary.seen_mask()
    unseen_idx = np.flatnonzero(~seen)
    zsl = unseen_idx[sim[~seen[labels]][:, unseen_idx].argmax(1)]  # unseen crops among unseen captions only
    out: dict = {"num_crops": len(labels), "chance_class": 1 / len(world.classes)}
    for group, sel in (("seen", seen[labels]), ("unseen", ~seen[labels])):
        hits: dict[str, list[bool]] = {}
        for k, p in zip(labels[sel], pred[sel]):
            for name, hit in _attribute_hits(world, int(k), int(p)).items():
                hits.setdefault(name, []).append(hit)
        out[group] = {name: float(np.mean(v)) for name, v in sorted(hits.items())}
        out[group]["n"] = int(sel.sum())
    out["unseen"]["class_among_unseen"] = float(np.mean(zsl == labels[~seen[labels]]))
    out["chance_class_among_unseen"] = 1 / len(unseen_idx)
    return out
