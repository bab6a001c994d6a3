"""``zs extract --shard I/N``: independent writers of disjoint, chunk-aligned row ranges of one split.

For a SLURM job array or GPU nodes without a shared dask scheduler: each of N
processes runs the same command with its own ``--shard I/N``; each writes only
its range (rows of whole store chunks, so no chunk has two writers) under a
range lock, and the tables are consolidated once at the end
(``zs store consolidate STORE SPLIT``, or the same ``zs extract`` without
``--shard``, which also retries whatever a shard left undone). The first
shard records N in ``<split>/shards.json``; a shard of another N would cut
the split into overlapping ranges and is refused.
"""

from __future__ import annotations

import re

from zs.errors import ZsError

PLAN = "shards.json"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'I/N' -> (I, N) with 0 <= I < N."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not int(m.group(1)) < int(m.group(2)):
        raise ZsError(f"--shard {text}: expected I/N with 0 <= I < N (e.g. 0/4 ... 3/4)")
    return int(m.group(1)), int(m.group(2))


def shard_rows(num_rows: int, chunk: int, shard: tuple[int, int]) -> tuple[int, int]:
    """Rows [a, b) of shard I of N: whole chunks, as even as possible."""
    i, n = shard
    chunks = -(-num_rows // chunk)
    lo, hi = i * chunks // n, (i + 1) * chunks // n
    if lo == hi:
        raise ZsError(f"--shard {i}/{n}: the split has only {chunks} chunk(s) of {chunk} rows; "
                      f"use at most {chunks} shards (or a smaller --chunk-images)")
    return lo * chunk, min(num_rows, hi * chunk)


def check_plan(store, split: str, shard: tuple[int, int]) -> None:
    """Record N for the split, or refuse a shard of another N (its rows would overlap other shards')."""
    i, n = shard
    plan = store.read_json(split, PLAN)
    if plan is None:
        store.write_json({"shards": n}, split, PLAN)
        return
    if int(plan["shards"]) != n:
        raise ZsError(f"{store.url}: split '{split}' is being written as {plan['shards']} shards "
                      f"({split}/{PLAN}); --shard {i}/{n} would overlap their row ranges: use --shard I/{plan['shards']}, "
                      f"or finish the split with `zs extract` without --shard")


def failures_name(shard: tuple[int, int]) -> str:
    return f"extract_failures.shard-{shard[0]}-of-{shard[1]}.json"
