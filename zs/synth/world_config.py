"""A world configuration file (``zs synth --world-config FILE``): the world's levers as data.

JSON or YAML with the keys (all optional; absent ones keep the default world's)::

    things: {shape: [circle, ring, ...], colour: [red, orange, ...],
             unseen: ["yellow circle", ...], absent: ["blue circle", ...]}
    stuff:  {pattern: [stripes, ...], direction: [horizontal, ...],
             unseen: ["diagonal stripes", ...], absent: [...]}
    classes: [{name, attributes, seen}, ...]   # instead of things/stuff: an explicit list
    render: {min_radius: 0.09, max_radius: 0.19, min_things: 2, ...}   # RenderConfig fields but size
    semantic: {dim: 64, noise: 0.15}

``things``/``stuff`` make every shape x colour (pattern x direction)
combination a class named "colour shape" ("direction pattern"), shape-major,
minus ``absent``; ``unseen`` ones are unseen. ``zs.synth.world.check_split``
then enforces the honesty rules. Values must be in ``world.CATALOGUE``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from zs.errors import ConfigError
from zs.synth.render import RenderConfig
from zs.synth.world import DEFAULT_CLASSES, World, build_world

_TOP = ("things", "stuff", "classes", "render", "semantic")
_GRID = {"things": ("shape", "colour"), "stuff": ("pattern", "direction")}


def _grid_classes(kind: str, spec: dict, source: str) -> list[tuple[str, dict, bool]]:
    outer, inner = _GRID[kind]
    unknown = sorted(set(spec) - {outer, inner, "unseen", "absent"})
    if unknown or outer not in spec or inner not in spec:
        raise ConfigError(f"{source}: {kind} needs {outer}, {inner} (+ unseen, absent); got {sorted(spec)}")
    classes = []
    for a in spec[outer]:
        for b in spec[inner]:
            name = f"{b} {a}"
            classes.append((name, {outer: a, inner: b}, name not in set(spec.get("unseen", []))))
    names = {n for n, _, _ in classes}
    for key in ("unseen", "absent"):
        missing = sorted(set(spec.get(key, [])) - names)
        if missing:
            raise ConfigError(f"{source}: {kind}.{key} names no class of the grid: {', '.join(missing)}")
    absent = set(spec.get("absent", []))
    return [c for c in classes if c[0] not in absent]


def world_from_config(doc: dict, source: str = "world config") -> World:
    """The World a config mapping describes (see module docstring); ConfigError on bad input."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping with keys {', '.join(_TOP)}")
    unknown = sorted(set(doc) - set(_TOP))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(_TOP)}")
    if "classes" in doc and ("things" in doc or "stuff" in doc):
        raise ConfigError(f"{source}: give either classes or things/stuff, not both")
    try:
        if "classes" in doc:
            classes = [(str(c["name"]), dict(c["attributes"]), bool(c["seen"])) for c in doc["classes"]]
        else:
            things = (_grid_classes("things", doc["things"], source) if "things" in doc
                      else [c for c in DEFAULT_CLASSES if "shape" in c[1]])
            stuff = (_grid_classes("stuff", doc["stuff"], source) if "stuff" in doc
                     else [c for c in DEFAULT_CLASSES if "pattern" in c[1]])
            classes = things + stuff
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{source}: malformed classes ({e!r})") from None
    render = dict(doc.get("render") or {})
    fields = {f.name for f in dataclasses.fields(RenderConfig)} - {"size"}
    bad = sorted(set(render) - fields)
    if bad:
        raise ConfigError(f"{source}: render has unknown field(s) {', '.join(bad)} (size is `zs synth --size`); "
                          f"valid: {', '.join(sorted(fields))}")
    if not all(isinstance(v, (int, float)) and v >= 0 for v in render.values()):
        raise ConfigError(f"{source}: render values must be non-negative numbers, got {render}")
    sem = dict(doc.get("semantic") or {})
    return build_world(classes, int(sem.get("dim", 64)), float(sem.get("noise", 0.15)), render)


def read_world_config(path: str | Path) -> World:
    """:func:`world_from_config` of a JSON or YAML file."""
    import json

    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        doc = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except Exception as e:  # noqa: BLE001 - any read/parse error is bad input
        raise ConfigError(f"{path}: cannot read world config ({e})") from None
    return world_from_config(doc, source=str(path))
