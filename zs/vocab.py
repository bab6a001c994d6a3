"""The vocabulary: categories, their contiguous indices, thing/stuff and seen/unseen.

Contiguous index = position in ``categories`` (0..K-1); index K is no-object.
Every array with a class axis (logits [.., K+1], text embeddings [K, Dt],
heads) uses this order. Dataset category ids (COCO's 1..200) appear only in
tables and files in standard formats.

File format (``vocab.json``)::

    {"name": "coco-panoptic-pading",
     "categories": [{"id": 1, "name": "person", "isthing": 1, "seen": true}, ...]}
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Sequence

from zs.errors import ZsError
from zs.manifest import hash_obj, read_json, write_json_atomic

# PADing's 14 unseen COCO panoptic classes (dataset ids), DESIGN §6.
PADING_UNSEEN_IDS = (21, 25, 33, 34, 41, 57, 87, 100, 145, 148, 149, 184, 187, 193)


@dataclasses.dataclass(frozen=True)
class Category:
    id: int
    name: str
    isthing: bool
    seen: bool


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    name: str
    categories: tuple[Category, ...]

    # -- sizes and index maps -------------------------------------------------
    @property
    def num_classes(self) -> int:
        """K (no-object excluded)."""
        return len(self.categories)

    @property
    def no_object(self) -> int:
        """Contiguous index of the no-object class (= K)."""
        return len(self.categories)

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.categories]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.categories]

    def index_of_id(self, cat_id: int) -> int:
        """Dataset category id -> contiguous index; ZsError if unknown."""
        try:
            return self._id_to_index[int(cat_id)]
        except KeyError:
            raise ZsError(f"category id {cat_id} is not in vocabulary '{self.name}'") from None

    def id_to_index(self) -> dict[int, int]:
        return dict(self._id_to_index)

    @property
    def _id_to_index(self) -> dict[int, int]:
        return {c.id: i for i, c in enumerate(self.categories)}

    @property
    def seen_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.categories) if c.seen]

    @property
    def unseen_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.categories) if not c.seen]

    @property
    def thing_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.categories) if c.isthing]

    def seen_mask(self):
        """Bool numpy array [K], True for seen classes."""
        import numpy as np

        return np.array([c.seen for c in self.categories], dtype=bool)

    def isthing_mask(self):
        """Bool numpy array [K], True for thing classes."""
        import numpy as np

        return np.array([c.isthing for c in self.categories], dtype=bool)

    # -- identity and IO --------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "categories": [
                {"id": c.id, "name": c.name, "isthing": int(c.isthing), "seen": bool(c.seen)}
                for c in self.categories
            ],
        }

    @property
    def sha256(self) -> str:
        """Identity of the vocabulary (names, ids, thing/stuff, seen/unseen)."""
        return hash_obj(self.to_dict())

    def save(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, source: str = "vocabulary") -> "Vocabulary":
        try:
            cats = tuple(
                Category(int(c["id"]), str(c["name"]), bool(c["isthing"]), bool(c.get("seen", True)))
                for c in d["categories"]
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ZsError(f"{source}: malformed category entry ({e!r})") from None
        ids = [c.id for c in cats]
        if len(set(ids)) != len(ids):
            raise ZsError(f"{source}: duplicate category ids")
        if not cats:
            raise ZsError(f"{source}: no categories")
        return cls(str(d.get("name", "vocabulary")), cats)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        return cls.from_dict(read_json(path), source=str(path))

    @classmethod
    def from_coco_categories(
        cls, categories: Sequence[dict], unseen: Iterable[int | str] = (), name: str = "coco"
    ) -> "Vocabulary":
        """From a COCO panoptic ``categories`` list; ``unseen`` holds ids or names."""
        unseen = {str(u) for u in unseen}
        cats = tuple(
            Category(
                int(c["id"]),
                str(c["name"]),
                bool(c.get("isthing", 1)),
                not (str(c["id"]) in unseen or c["name"] in unseen),
            )
            for c in categories
        )
        known = {str(c.id) for c in cats} | {c.name for c in cats}
        missing = sorted(unseen - known)
        if missing:
            raise ZsError(f"unseen classes not in the categories: {', '.join(missing)}")
        return cls(name, cats)


def read_class_list(path: str | os.PathLike) -> list[str]:
    """A text file with one category id or name per line (# comments, blanks ignored)."""
    try:
        with open(path) as f:
            lines = [ln.split("#", 1)[0].strip() for ln in f]
    except FileNotFoundError:
        raise ZsError(f"{path}: file not found") from None
    return [ln for ln in lines if ln]
