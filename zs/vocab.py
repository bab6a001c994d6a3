"""The vocabulary: categories, their contiguous indices, thing/stuff and seen/unseen.

Contiguous index = position in ``categories`` (0..K-1); index K is no-object.
Every array with a class axis (logits [.., K+1], text embeddings [K, Dt],
heads) uses this order. Dataset category ids (COCO's 1..200) appear only in
tables and files in standard formats.

File format (``vocab.json``)::

    {"name": "coco-panoptic-pading",
     "categories": [{"id": 1, "name": "person", "isthing": 1, "seen": true}, ...]}

Identity (``sha256``) is what the vocabulary means: each category's id, name,
thing/stuff flag and seen/unseen flag, in order. ``name`` is a label for
people and plays no part in it, so train and val JSONs of one dataset give the
same vocabulary. Vocabularies recorded before this rule hashed the name too;
:meth:`Vocabulary.from_record` keeps that older hash (``"identity": "named"``
in the dict) for them, so artifacts made from an old store keep fitting it.
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


def _flag(category: dict, key: str, default: bool | None = None) -> bool:
    """A category's true/false field: JSON true/false or COCO's 0/1 (a string such as "false" is refused)."""
    v = category[key] if default is None else category.get(key, default)
    if isinstance(v, bool) or v in (0, 1) and isinstance(v, int):
        return bool(v)
    raise ValueError(f"category {category.get('id')!r}: {key}={v!r} is not true/false or 0/1")


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    name: str
    categories: tuple[Category, ...]
    named_identity: bool = False  # True: recorded by an older zs whose hash included ``name``

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
    def _categories_dicts(self) -> list[dict]:
        return [{"id": c.id, "name": c.name, "isthing": int(c.isthing), "seen": bool(c.seen)}
                for c in self.categories]

    def to_dict(self) -> dict:
        d = {"name": self.name, "categories": self._categories_dicts()}
        if self.named_identity:
            d["identity"] = "named"
        return d

    @property
    def meaning_sha256(self) -> str:
        """Hash of the categories (ids, names, thing/stuff, seen/unseen, order); the name is left out."""
        return hash_obj({"categories": self._categories_dicts()})

    @property
    def named_sha256(self) -> str:
        """The older identity: the categories and the vocabulary's name."""
        return hash_obj({"name": self.name, "categories": self._categories_dicts()})

    @property
    def sha256(self) -> str:
        """Identity of the vocabulary: :attr:`meaning_sha256` (:attr:`named_sha256` if recorded that way)."""
        return self.named_sha256 if self.named_identity else self.meaning_sha256

    def same_meaning(self, other: "Vocabulary") -> bool:
        return self.categories == other.categories

    def differences(self, other: "Vocabulary", here: str = "here", there: str = "there") -> list[str]:
        """What differs from ``other``, one short phrase per class ('id 21 cow: seen here, unseen there')."""
        mine, theirs = {c.id: c for c in self.categories}, {c.id: c for c in other.categories}
        out = []
        for cid in sorted(set(mine) | set(theirs)):
            a, b = mine.get(cid), theirs.get(cid)
            if a is None or b is None:
                c, where = (b, there) if a is None else (a, here)
                out.append(f"id {cid} '{c.name}' only {where}")
                continue
            if a.name != b.name:
                out.append(f"id {cid}: '{a.name}' {here}, '{b.name}' {there}")
            if a.isthing != b.isthing:
                out.append(f"id {cid} '{a.name}': {_kind(a)} {here}, {_kind(b)} {there}")
            if a.seen != b.seen:
                out.append(f"id {cid} '{a.name}': {_split(a)} {here}, {_split(b)} {there}")
        if not out and self.ids != other.ids:
            out.append(f"same classes in another order ({here} starts {self.ids[:5]}, {there} {other.ids[:5]})")
        return out

    def save(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, source: str = "vocabulary") -> "Vocabulary":
        try:
            cats = tuple(
                Category(int(c["id"]), str(c["name"]), _flag(c, "isthing"), _flag(c, "seen", True))
                for c in d["categories"]
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ZsError(f"{source}: malformed category entry ({e!r})") from None
        ids = [c.id for c in cats]
        if len(set(ids)) != len(ids):
            raise ZsError(f"{source}: duplicate category ids")
        if not cats:
            raise ZsError(f"{source}: no categories")
        return cls(str(d.get("name", "vocabulary")), cats, named_identity=d.get("identity") == "named")

    @classmethod
    def from_record(cls, d: dict, recorded_sha256: str | None, source: str = "vocabulary") -> "Vocabulary":
        """The vocabulary of a manifest, keeping the older (named) identity if that is what was recorded."""
        vocab = cls.from_dict(d, source=source)
        if recorded_sha256 and recorded_sha256 != vocab.sha256 and recorded_sha256 == vocab.named_sha256:
            vocab = dataclasses.replace(vocab, named_identity=True)
        return vocab

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


def _kind(c: Category) -> str:
    return "thing" if c.isthing else "stuff"


def _split(c: Category) -> str:
    return "seen" if c.seen else "unseen"


def format_differences(diffs: list[str], limit: int = 6) -> str:
    """'a; b; c (+N more)' for a one-line error."""
    more = f"; ... (+{len(diffs) - limit} more)" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def read_class_list(path: str | os.PathLike) -> list[str]:
    """A text file with one category id or name per line (# comments, blanks ignored)."""
    try:
        with open(path) as f:
            lines = [ln.split("#", 1)[0].strip() for ln in f]
    except FileNotFoundError:
        raise ZsError(f"{path}: file not found") from None
    return [ln for ln in lines if ln]
