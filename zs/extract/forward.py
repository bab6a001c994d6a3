"""Segmenter forwards whose stored numbers do not depend on the thread count or the batch.

On CPU a batched forward with T intra-op threads splits its reductions by T,
so the same image gives float16 values 1 ulp apart at 1 and 2 threads. Here
each image is forwarded on its own with ONE intra-op thread, and the images of
a batch run side by side on a pool of T Python threads (torch releases the
GIL inside ops): the numbers are those of a 1-thread, 1-image forward whatever
T, the batch size, the worker count or the sharding. On an accelerator the
batch is forwarded as one (thread count plays no part there).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import threading

import torch

from zs.extract.segmenter import SegmenterOutput

_LOCK = threading.Lock()


@contextlib.contextmanager
def intra_op_threads(n: int):
    """torch's intra-op thread count set to ``n`` inside the block (process-wide)."""
    with _LOCK:
        old = torch.get_num_threads()
        torch.set_num_threads(n)
    try:
        yield old
    finally:
        with _LOCK:
            torch.set_num_threads(old)


def forward_images(seg, pixels: list[torch.Tensor]) -> SegmenterOutput:
    """Forward images of one padded size: [3, h, w] each -> outputs stacked on dim 0 (as ``seg.forward``)."""
    if seg.device.type != "cpu":
        return seg.forward(seg.collate(pixels))
    with intra_op_threads(1) as width:
        def one(p):
            return seg.forward(seg.collate([p]))

        if width > 1 and len(pixels) > 1:
            with cf.ThreadPoolExecutor(max_workers=min(width, len(pixels))) as pool:
                outs = list(pool.map(one, pixels))
        else:
            outs = [one(p) for p in pixels]
    return SegmenterOutput(query_embed=torch.cat([o.query_embed for o in outs]),  # [B, Q, D]
                           class_logits=torch.cat([o.class_logits for o in outs]),  # [B, Q, K+1]
                           mask_logits=torch.cat([o.mask_logits for o in outs]))  # [B, Q, Hp/4, Wp/4]
