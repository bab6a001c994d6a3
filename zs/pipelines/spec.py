"""Pipeline specs: YAML -> validated, grid-expanded stage graph.

A spec::

    name: demo
    vars:                       # defaults; `zs run --set key=value` overrides
      seed: 0
      size: 64
    stages:                     # shared stages, run once
      world: {type: synth, params: {seed: "${seed}", size: "${size}"}}
      store: {type: extract, inputs: {data: world}, params: {split: val}}
    grid:                       # axes; the cartesian product gives the variants
      method:                   # a mapping value = a named preset of vars
        seen-only: {generator: null, head: seen-only}
        gmmn: {generator: gmmn, head: classifier}
      seed: [0, 1, 2]           # a list value = values of the var of that name
    variant_stages:             # instantiated once per variant, as NAME@VARIANT
      gen:  {type: fit-generator, inputs: {store: store}, params: {kind: "${generator}"},
             enabled: "${generator}"}
      head: {type: adapt, inputs: {store: store, generator: gen}, params: {method: "${head}"}}
      eval: {type: evaluate, inputs: {store: store, head: head}}
    final_stages:               # run once after every variant; inputs may name
      report: {type: report, inputs: {runs: "eval@*"}}    #  all variants with @*

``${var}`` alone in a string keeps the var's type; inside a longer string it is
formatted. A stage whose ``enabled`` is false/null is skipped and inputs that
name it receive ``None``. Errors name the spec line.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import yaml

from zs.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_TOP_KEYS = {"name", "description", "vars", "stages", "grid", "variant_stages", "final_stages"}
_STAGE_KEYS = {"type", "inputs", "params", "enabled"}


# --------------------------------------------------------------------------- YAML with lines
def _compose(text: str, source: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None


def _to_data(node, lines: dict, path: tuple):
    """Build plain data from a yaml node, recording the line of every key path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            key = int(k.value) if k.tag.endswith(":int") else k.value
            out[key] = _to_data(v, lines, path + (key,))
            lines[path + (key,)] = k.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(v, lines, path + (i,)) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- data types
@dataclasses.dataclass
class Stage:
    """One concrete stage of the expanded graph."""

    name: str  # unique, e.g. "eval@method=gmmn,seed=1"
    type: str
    params: dict[str, Any]
    inputs: dict[str, Any]  # input role -> stage name | list of stage names | None
    variant: dict[str, Any] | None = None  # the grid point (None for shared/final stages)
    template: str = ""  # name in the spec (before @variant)
    line: int = 0


@dataclasses.dataclass
class Spec:
    name: str
    source: str
    stages: dict[str, Stage]  # topologically ordered
    variants: list[dict[str, Any]]
    vars: dict[str, Any]


# --------------------------------------------------------------------------- loading
def load_spec(path_or_text: str | Path, *, overrides: dict[str, Any] | None = None,
              source: str | None = None, known_types: dict | None = None,
              grid: dict[str, list[str]] | None = None) -> Spec:
    """Parse, substitute vars, expand the grid and validate; ConfigError names the line.

    ``grid`` (``zs run --grid AXIS=V1,V2``) replaces grid axes: for an axis of presets the
    values pick (and order) its labels; for a list axis they are its new values (parsed as
    YAML); an axis not in the grid but named by a var becomes a new list axis.
    """
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text):
        p = Path(path_or_text)
        if not p.is_file():
            raise ConfigError(f"{p}: spec file not found")
        text, source = p.read_text(), source or str(p)
    else:
        text, source = str(path_or_text), source or "<spec>"
    lines: dict = {}
    node = _compose(text, source)
    if node is None:
        raise ConfigError(f"{source}: empty spec")
    raw = _to_data(node, lines, ())
    if grid:
        raw = dict(raw)
        raw["grid"] = override_grid(raw.get("grid") or {}, grid, raw.get("vars") or {}, source)
    return _build(raw, lines, source, overrides or {}, known_types)


def override_grid(spec_grid: dict, grid: dict[str, list[str]], variables: dict, source: str) -> dict:
    """The spec's ``grid`` with the ``--grid`` axes applied (see :func:`load_spec`)."""
    if not isinstance(spec_grid, dict):
        raise ConfigError(f"{source}: 'grid' must be a mapping of axis -> values")
    out = dict(spec_grid)
    for axis, values in grid.items():
        if not values:
            raise ConfigError(f"--grid {axis}=: give at least one value")
        current = spec_grid.get(axis)
        if isinstance(current, dict):
            unknown = [v for v in values if v not in {str(k) for k in current}]
            if unknown:
                raise ConfigError(f"--grid {axis}={','.join(values)}: no preset {', '.join(unknown)} in grid axis "
                                  f"'{axis}' (presets: {', '.join(str(k) for k in current)})")
            by_label = {str(k): v for k, v in current.items()}
            out[axis] = {v: by_label[v] for v in values}
        elif current is not None or axis in variables:
            out[axis] = [yaml.safe_load(v) for v in values]
        else:
            raise ConfigError(f"--grid {axis}: no grid axis or var '{axis}' in {source} "
                              f"(axes: {', '.join(spec_grid) or 'none'}; vars: {', '.join(variables) or 'none'})")
    return out


def _err(source: str, lines: dict, path: tuple, msg: str) -> ConfigError:
    while path and path not in lines:
        path = path[:-1]
    return ConfigError(f"{source}:{lines.get(path, 1)}: {msg}")


def _build(raw: Any, lines: dict, source: str, overrides: dict, known_types: dict | None) -> Spec:
    if not isinstance(raw, dict):
        raise _err(source, lines, (), "a spec must be a mapping")
    for k in raw:
        if k not in _TOP_KEYS:
            raise _err(source, lines, (k,), f"unknown top-level key '{k}' (expected one of {sorted(_TOP_KEYS)})")
    variables = dict(raw.get("vars") or {})
    for k, v in overrides.items():
        if k not in variables:
            raise ConfigError(f"--set {k}: no var '{k}' in {source} (vars: {', '.join(sorted(variables)) or 'none'})")
        variables[k] = _coerce(v, variables[k], f"--set {k}")
    unset = sorted(k for k, v in variables.items() if v == "REQUIRED")
    if unset:
        line = lines.get(("vars", unset[0]), 1)
        raise ConfigError(f"{source}:{line}: var(s) {', '.join(unset)} must be given: "
                          + " ".join(f"--set {k}=..." for k in unset))
    variants = _expand_grid(raw.get("grid") or {}, lines, source, variables)
    stages: dict[str, Stage] = {}
    for section in ("stages", "variant_stages", "final_stages"):
        block = raw.get(section) or {}
        if not isinstance(block, dict):
            raise _err(source, lines, (section,), f"'{section}' must be a mapping of stage name -> stage")
        for name, body in block.items():
            _check_stage_body(name, body, section, lines, source, known_types)
    shared = raw.get("stages") or {}
    per_variant = raw.get("variant_stages") or {}
    final = raw.get("final_stages") or {}
    dup = (set(shared) & set(per_variant)) | (set(shared) & set(final)) | (set(per_variant) & set(final))
    if dup:
        raise ConfigError(f"{source}: stage names used twice: {sorted(dup)}")
    for name, body in shared.items():
        stages[name] = _instantiate(name, body, variables, None, lines, ("stages", name), source)
    for point in variants if per_variant else []:
        vars_here = {**variables, **point["vars"]}
        for name, body in per_variant.items():
            st = _instantiate(name, body, vars_here, point, lines, ("variant_stages", name), source)
            stages[st.name] = st
    for name, body in final.items():
        stages[name] = _instantiate(name, body, variables, None, lines, ("final_stages", name), source)
    _resolve_inputs(stages, set(shared), set(per_variant), source)
    ordered = _toposort(stages, source)
    return Spec(str(raw.get("name") or Path(source).stem), source, ordered, variants, variables)


def _coerce(value: Any, like: Any, where: str) -> Any:
    """Parse a --set string to the type of the var's default."""
    if not isinstance(value, str) or like is None or isinstance(like, str):
        return yaml.safe_load(value) if isinstance(value, str) and like is None else value
    parsed = yaml.safe_load(value)
    if isinstance(like, bool) and not isinstance(parsed, bool):
        raise ConfigError(f"{where}={value}: expected true/false")
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        if not isinstance(parsed, (int, float)) or isinstance(parsed, bool):
            raise ConfigError(f"{where}={value}: expected a number")
        return type(like)(parsed) if isinstance(like, float) else parsed
    return parsed


def _expand_grid(grid: dict, lines: dict, source: str, variables: dict) -> list[dict]:
    if not isinstance(grid, dict):
        raise _err(source, lines, ("grid",), "'grid' must be a mapping of axis -> values")
    axes = []
    for axis, values in grid.items():
        if isinstance(values, dict):
            options = []
            for label, preset in values.items():
                if preset is not None and not isinstance(preset, dict):
                    raise _err(source, lines, ("grid", axis, label), f"grid preset '{label}' must be a mapping of vars")
                options.append((str(label), {axis: label, **(preset or {})}))
        elif isinstance(values, list) and values:
            options = [(str(v), {axis: v}) for v in values]
        else:
            raise _err(source, lines, ("grid", axis), f"grid axis '{axis}' needs a non-empty list or mapping")
        for _, preset in options:
            for var in preset:
                if var not in variables and var != axis:
                    raise _err(source, lines, ("grid", axis), f"grid axis '{axis}' sets unknown var '{var}'")
        axes.append((axis, options))
    points = []
    for combo in itertools.product(*[opts for _, opts in axes]) if axes else [()]:
        label = ",".join(f"{axis}={lab}" for (axis, _), (lab, _) in zip(axes, combo))
        merged: dict = {}
        for _, preset in combo:
            merged.update(preset)
        points.append({"label": label, "vars": merged, "axes": {a: lab for (a, _), (lab, _) in zip(axes, combo)}})
    return points


def _check_stage_body(name, body, section, lines, source, known_types):
    path = (section, name)
    if "@" in str(name) or "*" in str(name):
        raise _err(source, lines, path, f"stage name '{name}' may not contain '@' or '*'")
    if not isinstance(body, dict):
        raise _err(source, lines, path, f"stage '{name}' must be a mapping with 'type'")
    for k in body:
        if k not in _STAGE_KEYS:
            raise _err(source, lines, path + (k,), f"stage '{name}': unknown key '{k}' (expected {sorted(_STAGE_KEYS)})")
    if "type" not in body:
        raise _err(source, lines, path, f"stage '{name}' has no 'type'")
    if known_types is not None and body["type"] not in known_types:
        raise _err(source, lines, path + ("type",),
                   f"stage '{name}': unknown stage type '{body['type']}' (known: {', '.join(sorted(known_types))})")
    for k in ("inputs", "params"):
        if body.get(k) is not None and not isinstance(body[k], dict):
            raise _err(source, lines, path + (k,), f"stage '{name}': '{k}' must be a mapping")


def substitute(value: Any, variables: dict, where: str = "") -> Any:
    """Replace ${var} references (recursively)."""
    if isinstance(value, dict):
        return {k: substitute(v, variables, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, where) for v in value]
    if not isinstance(value, str):
        return value
    whole = _VAR.fullmatch(value)
    if whole:
        if whole.group(1) not in variables:
            raise ConfigError(f"{where}: unknown var '${{{whole.group(1)}}}'")
        return variables[whole.group(1)]

    def repl(m):
        if m.group(1) not in variables:
            raise ConfigError(f"{where}: unknown var '${{{m.group(1)}}}'")
        return str(variables[m.group(1)])

    return _VAR.sub(repl, value)


def _instantiate(name, body, variables, point, lines, path, source) -> Stage:
    where = f"{source}:{lines.get(path, 1)}: stage '{name}'"
    enabled = substitute(body.get("enabled", True), variables, where)
    params = substitute(dict(body.get("params") or {}), variables, where)
    inputs = dict(body.get("inputs") or {})
    full = f"{name}@{point['label']}" if point is not None and point["label"] else name
    st = Stage(full, str(body["type"]), params, inputs, point, name, lines.get(path, 1))
    st.params["__enabled__"] = bool(enabled)
    return st


def _resolve_inputs(stages: dict[str, Stage], shared: set, per_variant: set, source: str) -> None:
    for st in stages.values():
        resolved = {}
        for role, ref in st.inputs.items():
            where = f"{source}:{st.line}: stage '{st.template}' input '{role}'"
            if ref is None:
                resolved[role] = None
            elif isinstance(ref, str) and ref.endswith("@*"):
                base = ref[:-2]
                if base not in per_variant:
                    raise ConfigError(f"{where}: '{ref}' must name a variant stage")
                resolved[role] = [s.name for s in stages.values() if s.template == base and s.variant is not None]
            elif isinstance(ref, str) and ref in shared:
                resolved[role] = ref
            elif isinstance(ref, str) and ref in per_variant:
                if st.variant is None:
                    raise ConfigError(f"{where}: a shared stage cannot take variant stage '{ref}' (use '{ref}@*')")
                label = st.variant["label"]
                resolved[role] = f"{ref}@{label}" if label else ref
            elif isinstance(ref, str) and ref in stages:
                resolved[role] = ref
            else:
                raise ConfigError(f"{where}: no stage named '{ref}'")
        st.inputs = resolved


def _toposort(stages: dict[str, Stage], source: str) -> dict[str, Stage]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, chain: list[str]):
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cyc = " -> ".join(chain[chain.index(n):] + [n])
            raise ConfigError(f"{source}:{stages[n].line}: dependency cycle: {cyc}")
        state[n] = 1
        for dep in dependencies(stages[n]):
            visit(dep, chain + [n])
        state[n] = 2
        order.append(n)

    for n in stages:
        visit(n, [])
    return {n: stages[n] for n in order}


def dependencies(st: Stage) -> list[str]:
    deps: list[str] = []
    for ref in st.inputs.values():
        if isinstance(ref, list):
            deps.extend(ref)
        elif ref is not None:
            deps.append(ref)
    return deps
