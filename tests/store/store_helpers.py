"""Small records and stores for the store tests."""

import numpy as np

from zs.store import ImageRecord
from zs.vocab import Vocabulary

VOCAB = Vocabulary.from_dict({"name": "t", "categories": [
    {"id": 3, "name": "a", "isthing": 1, "seen": True},
    {"id": 5, "name": "b", "isthing": 1, "seen": False},
    {"id": 9, "name": "c", "isthing": 0, "seen": True},
]})
Q, D, DC, HW = 6, 8, 4, (5, 7)
PARAMS = dict(num_queries=Q, query_dim=D, num_classes=3, clip_dim=DC, mask_shape=HW, chunk_images=3)


def manifest():
    return {"segmenter": {"name": "t", "sha256": "abc", "num_queries": Q, "query_dim": D, "num_classes": 3},
            "clip": {"model": "t", "weights_sha256": "def", "dim": DC}, "vocabulary": VOCAB.to_dict(),
            "dataset": {}}


def record(row: int, seed: int = 0) -> ImageRecord:
    """A deterministic record for ``row`` (1-3 segments)."""
    rng = np.random.default_rng([seed, row])
    s = 1 + row % 3
    match = np.full(Q, -1)
    match[rng.choice(Q, s, replace=False)] = np.arange(s)
    cost = np.where(match >= 0, rng.uniform(size=Q), np.nan).astype(np.float32)
    segs = [{"segment_id": 10 + j, "category_id": [3, 5, 9][(row + j) % 3], "iscrowd": int(j == 2),
             "area": 100 + j, "bbox": [j, 1, 2, 3]} for j in range(s)]
    return ImageRecord(
        image_id=1000 + row, file_name=f"im{row}.jpg", height=40 + row, width=50,
        geometry={"resized_h": 20, "resized_w": 28, "padded_h": 20, "padded_w": 28, "flip": bool(row % 2),
                  "crop_x0": 0, "crop_y0": 0, "crop_h": 40 + row, "crop_w": 50, "view": None},
        query_embed=rng.normal(size=(Q, D)).astype(np.float32),
        query_logits=rng.normal(size=(Q, 4)).astype(np.float32),
        mask_probs=rng.uniform(size=(Q, *HW)).astype(np.float32),
        clip_global=rng.normal(size=DC).astype(np.float32),
        segments=segs, segment_clip=rng.normal(size=(s, DC)).astype(np.float32),
        match_segment=match, match_cost=cost)
