"""Seen / unseen / harmonic-mean blocks shared by every metric.

Seen and unseen figures are unweighted means of a per-class value over the
classes of each group that *occur* (DESIGN §8); which classes occur is decided
by the metric (panoptic: TP+FP+FN > 0; semantic: IoU defined; instance: the
category has non-crowd GT, i.e. its AP is defined). The harmonic mean is
``2·s·u / (s + u)``, 0 when either side is 0, undefined (None) when either
side is undefined.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

from zs.errors import ZsError


def harmonic_mean(seen: float | None, unseen: float | None) -> float | None:
    """HM = 2su/(s+u); 0 if s or u is 0; None if either is undefined."""
    if seen is None or unseen is None:
        return None
    if seen == 0 or unseen == 0:
        return 0.0
    return 2.0 * seen * unseen / (seen + unseen)


def mean_or_none(values: Sequence[float]) -> float | None:
    """Plain mean (sum in the given order / n); None for an empty list."""
    if not values:
        return None
    return sum(values) / len(values)


def group_block(
    per_class: dict[str, dict],
    class_ids: Iterable[str],
    keys: Sequence[str],
    occurs: Callable[[dict], bool],
) -> dict:
    """Mean of ``keys`` over the classes in ``class_ids`` for which ``occurs(rec)``.

    Classes are visited in ``per_class`` order (the categories' order), so the
    sum order matches the reference tools.
    """
    wanted = {str(c) for c in class_ids}
    recs = [rec for cid, rec in per_class.items() if cid in wanted and occurs(rec)]
    block = {k: mean_or_none([float(r[k]) for r in recs]) for k in keys}
    block["n"] = len(recs)
    return block


def seen_unseen_blocks(
    per_class: dict[str, dict],
    unseen_ids: Iterable[str],
    keys: Sequence[str],
    occurs: Callable[[dict], bool],
) -> dict:
    """``{"seen": {...}, "unseen": {...}, "hm": {...}}`` for a per-class table.

    Every class of ``per_class`` not in ``unseen_ids`` is seen.
    """
    unseen = {str(u) for u in unseen_ids}
    seen = [cid for cid in per_class if cid not in unseen]
    s = group_block(per_class, seen, keys, occurs)
    u = group_block(per_class, unseen, keys, occurs)
    hm = {k: harmonic_mean(s[k], u[k]) for k in keys}
    return {"seen": s, "unseen": u, "hm": hm}


def resolve_class_ids(entries: Iterable[int | str], ids: Sequence[int], names: Sequence[str],
                      source: str = "unseen list", skip_unknown_ids: bool = False) -> list[int]:
    """Category ids or names (as read by ``zs.vocab.read_class_list``) -> ids.

    A numeric entry is an id; anything else must be one of ``names``. An
    unknown entry raises ZsError naming it and the source, except unknown
    numeric ids when ``skip_unknown_ids`` (a panoptic unseen list holds stuff
    ids that an instance evaluation over thing categories does not have).
    """
    by_name = {str(n): i for i, n in zip(ids, names)}
    known = {int(i) for i in ids}
    out = []
    for e in entries:
        s = str(e).strip()
        if s.lstrip("-").isdigit():
            if int(s) not in known:
                if skip_unknown_ids:
                    continue
                raise ZsError(f"{source}: category id {s} is not in the categories")
            out.append(int(s))
        elif s in by_name:
            out.append(int(by_name[s]))
        else:
            raise ZsError(f"{source}: class '{s}' is not a category id or name")
    return out


def nan_to_none(x: float) -> float | None:
    """NaN (undefined) -> None, so results are valid JSON (null)."""
    x = float(x)
    return None if math.isnan(x) else x
