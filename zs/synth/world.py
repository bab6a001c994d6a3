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

# Values the renderer also knows, for configured worlds (``zs synth --world-config``); the default world uses none.
EXTRA_SHAPES = ("ring", "bar", "star", "semicircle")
EXTRA_COLOURS = {"orange": (240, 130, 30), "purple": (135, 55, 200), "cyan": (35, 195, 205), "magenta": (220, 55, 175)}
EXTRA_PATTERNS = ("zigzag", "dots")
ALL_COLOURS = {**COLOURS, **EXTRA_COLOURS}
CATALOGUE = {"shape": SHAPES + EXTRA_SHAPES, "colour": tuple(ALL_COLOURS), "pattern": PATTERNS + EXTRA_PATTERNS,
             "direction": DIRECTIONS}


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
    render: dict = dataclasses.field(default_factory=dict)  # RenderConfig overrides (all but size)

    @property
    def values(self) -> dict[str, tuple[str, ...]]:
        """Each attribute's values used by the world's classes, in catalogue order."""
        used = {c_key: {c.attributes[c_key] for c in self.classes if c_key in c.attributes} for c_key in CATALOGUE}
        return {k: tuple(v for v in CATALOGUE[k] if v in used[k]) for k in CATALOGUE}

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


def build_world(classes=DEFAULT_CLASSES, semantic_dim: int = 64, semantic_noise: float = 0.15,
                render: dict | None = None) -> World:
    """The world from (name, attributes, seen) triples; checks the split is honest (:func:`check_split`)."""
    wc = []
    for i, (name, attrs, seen) in enumerate(classes):
        isthing = "shape" in attrs
        keys = THING_ATTRIBUTES if isthing else STUFF_ATTRIBUTES
        if set(attrs) != set(keys):
            raise ConfigError(f"class '{name}': attributes must be {keys}, got {sorted(attrs)}")
        for k in keys:
            if attrs[k] not in CATALOGUE[k]:
                raise ConfigError(f"class '{name}': {k}={attrs[k]!r} is not one of {CATALOGUE[k]}")
        wc.append(WorldClass(i + 1, name, isthing, bool(seen), dict(attrs)))
    if len({c.name for c in wc}) != len(wc):
        raise ConfigError("class names must be unique")
    world = World(tuple(wc), semantic_dim, semantic_noise, dict(render or {}))
    check_split(world)
    return world


def check_split(world: World, min_seen_per_value: int = 2) -> None:
    """ConfigError unless the split is honest zero-shot.

    At least one unseen class, one seen thing and one seen stuff class; every
    attribute value of the world (so every value an unseen class recombines)
    is shown by at least ``min_seen_per_value`` seen classes, so no single
    value identifies a seen class.
    """
    if not world.things(seen=False) and not world.stuff(seen=False):
        raise ConfigError("impossible split: no unseen class")
    if not world.things(seen=True) or not world.stuff(seen=True):
        raise ConfigError("impossible split: need at least one seen thing and one seen stuff class")
    shown = attribute_ambiguity(world)
    for c in world.classes:
        if c.seen:
            continue
        for k, v in c.attributes.items():
            if v not in shown.get(k, {}):
                raise ConfigError(f"impossible split: unseen class '{c.name}' has {k}={v!r}, which no seen class shows")
    for k, counts in shown.items():
        for v, n in counts.items():
            if n < min_seen_per_value:
                raise ConfigError(f"dishonest split: {k}={v!r} is shown by {n} seen class(es); every attribute value "
                                  f"needs >= {min_seen_per_value} (else it identifies a seen class)")


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
    extra = np.random.default_rng([seed, 7919, 1])  # the catalogue's extra values: the default world's rows unchanged
    for key in (*THING_ATTRIBUTES, *STUFF_ATTRIBUTES):
        for v in CATALOGUE[key][len(_VALUES[key]):]:
            codes[(key, v)] = extra.standard_normal(dim) / np.sqrt(dim)
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
