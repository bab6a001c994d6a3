"""What a store was made from: its segmenter, vocabulary and CLIP records (``Store.identity``).

Every reader of these manifest records goes through :class:`StoreIdentity`, so
the rules for a missing record (an empty segmenter record, no CLIP) live here.
A ``StoreIdentity`` is also a head target: ``zs.heads.check_head_fits(head,
store.identity, where=...)`` compares its ``query_dim``, ``num_classes``,
``vocab_sha256`` and ``segmenter_sha256`` with the head's.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class StoreIdentity:
    segmenter: dict  # {name, path, sha256, num_queries, query_dim, num_classes, config}; {} when unknown
    vocabulary: dict  # Vocabulary.to_dict()
    clip: dict | None  # {model, weights_sha256, dim}, or None (no CLIP)
    vocab_sha256: str
    num_classes: int  # K
    query_dim: int  # D (0 when the manifest does not say)
    store_sha256: str  # Store.sha256

    @property
    def segmenter_sha256(self) -> str:
        return str(self.segmenter.get("sha256") or "")

    @property
    def clip_dim(self) -> int:
        return int((self.clip or {}).get("dim") or 0)

    @classmethod
    def from_manifest(cls, manifest: dict, vocab, store_sha256: str) -> "StoreIdentity":
        """From a store manifest and its parsed vocabulary (``Store.vocab``)."""
        seg = dict(manifest.get("segmenter") or {})
        return cls(segmenter=seg, vocabulary=dict(manifest.get("vocabulary") or vocab.to_dict()),
                   clip=dict(manifest["clip"]) if manifest.get("clip") else None,
                   vocab_sha256=str(manifest.get("vocab_sha256") or vocab.sha256),
                   num_classes=int(vocab.num_classes), query_dim=int(seg.get("query_dim") or 0),
                   store_sha256=store_sha256)

