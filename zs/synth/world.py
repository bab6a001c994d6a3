"""The synthetic world's classes: attributes, the seen/unseen split, semantic embeddings.

Things are shapes painted in a colour (attributes ``shape``, ``colour``); stuff
are background textures (attributes ``pattern``, ``direction``). Every unseen
class recombines attribute values that seen classes show, and no single
attribute identifies a seen class (each colour is worn by several seen shapes,
each shape appears in several seen colours, each pattern runs in several seen
directions). Semantic embeddings stand in for CLIP text embeddings: a class's
row is the sum of random codes of its attribute values plus a little
class-specific noise, normalised.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np

from zs.errors import ConfigError
from zs.vocab import Category, Vocabulary

THING_ATTRIBUTES = ("shape", "colour")
STUFF_ATTRIBUTES = ("pattern", "direction")

# (name, attributes, seen); the order here is the vocabulary order.
DEFAULT_CLASSES: tuple[tuple[str, dict, bool], ...] = (
    ("red circle", {"shape": "circle", "colour": "red"}, True),
    ("green circle", {"shape": "circle", "colour": "green"}, True),
    ("yellow circle", {"shape": "circle", "colour": "yellow"}, False),
    ("red square", {"shape": "square", "colour": "red"}, True),
    ("blue square", {"shape": "square", "colour": "blue"}, True),
    ("yellow square", {"shape": "square", "colour": "yellow"}, True),
    ("green triangle", {"shape": "triangle", "colour": "green"}, True),
    ("yellow triangle", {"shape": "triangle", "colour": "yellow"}, True),
    ("blue triangle", {"shape": "triangle", "colour": "blue"}, False),
    ("red cross", {"shape": "cross", "colour": "red"}, True),
    ("blue cross", {"shape": "cross", "colour": "blue"}, True),
    ("green cross", {"shape": "cross", "colour": "green"}, False),
    ("horizontal stripes", {"pattern": "stripes", "direction": "horizontal"}, True),
    ("vertical stripes", {"pattern": "stripes", "direction": "vertical"}, True),
    ("diagonal stripes", {"pattern": "stripes", "direction": "diagonal"}, False),
    ("horizontal waves", {"pattern": "waves", "direction": "horizontal"}, True),
    ("diagonal waves", {"pattern": "waves", "direction": "diagonal"}, True),
    ("vertical waves", {"pattern": "waves", "direction": "vertical"}, False),
    ("horizontal dashes", {"pattern": "dashes", "direction": "horizontal"}, True),
    ("vertical dashes", {"pattern": "dashes", "direction": "vertical"}, True),
    ("diagonal dashes", {"pattern": "dashes", "direction": "diagonal"}, True),
)

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {  # RGB in 0..255, jittered per instance when rendered
    "red": (215, 40, 40),
    "green": (40, 175, 60),
    "blue": (45, 80, 220),
    "yellow": (235, 205, 40),
}
PATTERNS = ("stripes", "waves", "dashes")
DIRECTIONS = ("horizontal", "vertical", "diagonal")
_VALUES = {"shape": SHAPES, "colour": tuple(COLOURS), "pattern": PATTERNS, "direction": DIRECTIONS}


@dataclasses.dataclass(frozen=True)
class WorldClass:
    id: int  # dataset category id (1-based, COCO style)
    name: str
    isthing: bool
    seen: bool
    attributes: dict


@dataclasses.dataclass(frozen=True)
class World:
    classes: tuple[WorldClass, ...]
    semantic_dim: int = 64
    semantic_noise: float = 0.15

    @property
    def vocabulary(self) -> Vocabulary:
        cats = tuple(Category(c.id, c.name, c.isthing, c.seen) for c in self.classes)
        return Vocabulary("synth", cats)

    def things(self, seen: bool | None = None) -> list[WorldClass]:
        return [c for c in self.classes if c.isthing and (seen is None or c.seen == seen)]

    def stuff(self, seen: bool | None = None) -> list[WorldClass]:
        return [c for c in self.classes if not c.isthing and (seen is None or c.seen == seen)]

    def to_dict(self) -> dict:
        return {
            "semantic_dim": self.semantic_dim,
            "semantic_noise": self.semantic_noise,
            "classes": [dataclasses.asdict(c) for c in self.classes],
        }


def build_world(classes=DEFAULT_CLASSES, semantic_dim: int = 64, semantic_noise: float = 0.15) -> World:
    """The world from (name, attributes, seen) triples; checks the split is possible."""
    wc = []
    for i, (name, attrs, seen) in enumerate(classes):
        isthing = "shape" in attrs
        keys = THING_ATTRIBUTES if isthing else STUFF_ATTRIBUTES
        if set(attrs) != set(keys):
            raise ConfigError(f"class '{name}': attributes must be {keys}, got {sorted(attrs)}")
        for k in keys:
            if attrs[k] not in _VALUES[k]:
                raise ConfigError(f"class '{name}': {k}={attrs[k]!r} is not one of {_VALUES[k]}")
        wc.append(WorldClass(i + 1, name, isthing, bool(seen), dict(attrs)))
    world = World(tuple(wc), semantic_dim, semantic_noise)
    check_split(world)
    return world


def check_split(world: World) -> None:
    """ConfigError unless every unseen class recombines attribute values seen classes show."""
    if not world.things(seen=False) and not world.stuff(seen=False):
        raise ConfigError("impossible split: no unseen class")
    if not world.things(seen=True) or not world.stuff(seen=True):
        raise ConfigError("impossible split: need at least one seen thing and one seen stuff class")
    shown = defaultdict(set)
    for c in world.classes:
        if c.seen:
            for k, v in c.attributes.items():
                shown[k].add(v)
    for c in world.classes:
        if c.seen:
            continue
        for k, v in c.attributes.items():
            if v not in shown[k]:
                raise ConfigError(f"impossible split: unseen class '{c.name}' has {k}={v!r}, which no seen class shows")


def attribute_ambiguity(world: World) -> dict[str, dict[str, int]]:
    """For each attribute value, how many seen classes show it (>= 2 means it gives no class away)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in world.classes:
        if c.seen:
            for k, v in c.attributes.items():
                counts[k][v] += 1
    return {k: dict(v) for k, v in counts.items()}


def semantic_embeddings(world: World, seed: int) -> np.ndarray:
    """[K, Dt] float32 unit rows: sum of random attribute-value codes + class noise."""
    rng = np.random.default_rng([seed, 7919])
    dim = world.semantic_dim
    codes = {}
    for key in (*THING_ATTRIBUTES, *STUFF_ATTRIBUTES):
        for v in _VALUES[key]:
            codes[(key, v)] = rng.standard_normal(dim) / np.sqrt(dim)  # [Dt], norm ~1
    kind = {True: rng.standard_normal(dim) / np.sqrt(dim), False: rng.standard_normal(dim) / np.sqrt(dim)}
    rows = []
    for c in world.classes:
        e = kind[c.isthing] + sum(codes[(k, v)] for k, v in c.attributes.items())  # [Dt]
        e = e + world.semantic_noise * rng.standard_normal(dim) / np.sqrt(dim)
        rows.append(e / np.linalg.norm(e))
    return np.stack(rows).astype(np.float32)  # [K, Dt]


def caption(c: WorldClass) -> str:
    """The text a tiny CLIP is trained with for a class: 'a red circle', 'horizontal waves texture'."""
    if c.isthing:
        return f"a {c.attributes['colour']} {c.attributes['shape']}"
    return f"{c.attributes['direction']} {c.attributes['pattern']} texture"


def read_classes_file(path) -> World:
    """A World from a JSON list of {"name", "attributes", "seen"} (``zs synth --classes``)."""
    from zs.manifest import read_json

    doc = read_json(path)
    try:
        classes = [(str(c["name"]), dict(c["attributes"]), bool(c["seen"])) for c in doc]
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: expected a list of {{name, attributes, seen}} ({e!r})") from None
    return build_world(classes)
