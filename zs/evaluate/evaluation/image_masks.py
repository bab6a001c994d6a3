"""One image's decoder-resolution masks, brought to the image size on demand (exact or fast path)."""

from __future__ import annotations

import torch

from zs.errors import ZsError
from zs.evaluate.evaluation import inference

HOLD_CHUNK_BYTES = 4 << 20  # fast path: queries brought to the image size together (a few MB: stays in cache)


class ImageMasks:
    """One image's decoder-resolution masks, brought to the image size on demand.

    Upsampling is per query, so a task that needs only some queries (panoptic:
    the kept ones; instance: those in the top-k pairs) upsamples only those.
    ``fast``: one bilinear resize (:func:`inference.masks_to_image_fast`) instead of
    Mask2Former's two; :meth:`hold` brings a set of queries once and later
    selections of those queries index into it. Exact: a selection of every query
    is kept and reused; other selections are computed as asked (the result equals
    upsampling all of them and then selecting).
    """

    def __init__(self, masks: torch.Tensor, geometry: dict, out_hw, *, is_prob: bool, upsample: str = "logits",
                 fast: bool = False):
        self.masks, self.geometry, self.out_hw = masks, geometry, tuple(int(v) for v in out_hw)  # [Q, h, w]
        self.is_prob, self.upsample, self.fast = is_prob, upsample, fast
        self._held_index: torch.Tensor | None = None  # [n] sorted query indices ...
        self._held: torch.Tensor | None = None  # ... and their probabilities [n, H, W]
        self._instance: tuple[torch.Tensor, torch.Tensor] | None = None  # fast path: instance masks of the held
        self._peak: torch.Tensor | None = None  # [Q] largest value of each query's mask

    def hold(self, index: torch.Tensor, *, instance: bool = False) -> None:
        """Bring the queries ``index`` (sorted, distinct) to the image size now, for later selections.

        Fast path: one resize of every query's logits, then a few queries at a time the sigmoid and,
        with ``instance``, the instance masks and scores of :meth:`held_instance_masks`, each group
        while it is in the CPU cache (one more pass over the image-size tensor instead of one per
        operation). The values are those of the whole-tensor operations (each query on its own).
        """
        self._held_index, self._instance = index.cpu(), None
        if not self.fast or index.numel() == 0:
            self._held = self._compute(index) if index.numel() else torch.zeros((0, *self.out_hw),
                                                                               device=self.masks.device)
            return
        self._held = self._compute(index, sigmoid=False)  # [n, H, W] logits (probabilities when upsample="probs")
        as_logits = not (self.is_prob and self.upsample == "probs")
        n, (h, w) = index.numel(), self.out_hw
        if instance:
            self._instance = (torch.empty((n, w, h), dtype=torch.bool, device=self._held.device),
                              torch.empty(n, device=self._held.device))
        step = max(1, HOLD_CHUNK_BYTES // (4 * h * w))
        for s in range(0, n, step):
            part = self._held[s:s + step]  # [c, H, W] (a contiguous view)
            if as_logits:
                part.sigmoid_()
            if instance:
                binary, scores = inference.instance_mask_scores(part)  # [c, H, W] bool, [c]
                self._instance[0][s:s + step] = binary.transpose(1, 2)  # [c, W, H]: the RLE encoder's layout
                self._instance[1][s:s + step] = scores

    def select(self, index: torch.Tensor | None = None) -> torch.Tensor:
        """Probabilities [n, H, W] of the queries ``index`` (all when None); read-only (may be shared)."""
        num_queries = self.masks.shape[0]
        full = torch.arange(num_queries) if index is None else index.cpu()
        if self._held is not None:
            pos = torch.searchsorted(self._held_index, full).clamp(max=max(len(self._held_index) - 1, 0))
            if len(self._held_index) and bool((self._held_index[pos] == full).all()):
                if len(full) == len(self._held_index):
                    return self._held  # no copy
                return self._held.index_select(0, pos.to(self._held.device))
        if full.numel() == 0:
            return torch.zeros((0, *self.out_hw), device=self.masks.device)
        out = self._compute(None if index is None else full)
        if index is None or _is_every_query(full, num_queries):
            self._held_index, self._held = torch.arange(num_queries), out
        return out

    def nonempty(self, index: torch.Tensor) -> torch.Tensor:
        """Whether each query of ``index`` can have a pixel above 0.5 at the image size; [n] bool.

        A bilinear resize is a convex combination of mask pixels, so a query whose decoder-resolution
        mask is <= 0.5 everywhere (logit <= 0) is <= 0.5 everywhere after it: its instance mask is empty.
        """
        if self._peak is None:  # every query's largest mask value, once
            self._peak = self.masks.flatten(1).amax(1).cpu() if self.masks.numel() else torch.zeros(len(self.masks))
        return self._peak[index.cpu()] > (0.5 if self.is_prob else 0.0)

    def held_positions(self, index: torch.Tensor) -> torch.Tensor:
        """Rows of the held tensor for the queries ``index`` (all held; ZsError otherwise)."""
        index = index.cpu()
        if self._held is None:
            raise ZsError("ImageMasks: no queries held")
        pos = torch.searchsorted(self._held_index, index).clamp(max=max(len(self._held_index) - 1, 0))
        if index.numel() and not bool((self._held_index[pos] == index).all()):
            raise ZsError("ImageMasks: a query asked for is not held")
        return pos

    def held(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(held query indices [n], their probabilities [n, H, W])."""
        return self._held_index, self._held

    def held_instance_masks(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Instance masks of held queries: (binary masks column by column [u, W, H] bool, mask scores [u]).

        Computed once for every held query (:func:`inference.instance_mask_scores`), then indexed.
        """
        if self._instance is None:
            binary, scores = inference.instance_mask_scores(self._held)  # [n, H, W], [n]
            self._instance = (binary.transpose(1, 2).contiguous(), scores)  # [n, W, H]: the RLE encoder's layout
        pos = self.held_positions(index).to(self._instance[1].device)
        return self._instance[0].index_select(0, pos), self._instance[1][pos]

    def _compute(self, index: torch.Tensor | None, *, sigmoid: bool = True) -> torch.Tensor:
        """Probabilities [n, H, W] of the queries ``index`` (all when None); fast path without ``sigmoid``:
        the resized logits (the probabilities themselves when ``upsample="probs"``)."""
        masks = self.masks if index is None else self.masks[index.to(self.masks.device)]  # [n, h, w]
        if not self.fast:
            return inference.masks_to_image(masks, self.geometry, self.out_hw, is_prob=self.is_prob,
                                            upsample=self.upsample)  # [n, H, W]
        as_prob = self.is_prob and self.upsample == "probs"
        if self.is_prob and not as_prob:
            masks = torch.logit(masks.float().clamp(inference.PROB_EPS, 1 - inference.PROB_EPS))
        out = inference.masks_to_image_fast(masks, self.geometry, self.out_hw)  # [n, H, W]
        return out if as_prob or not sigmoid else out.sigmoid_()


def _is_every_query(index: torch.Tensor, num_queries: int) -> bool:
    """``index`` is 0..Q-1 in order (the callers pass sorted, distinct indices)."""
    return index.numel() == num_queries and bool((index.cpu() == torch.arange(num_queries)).all())
