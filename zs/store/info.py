"""``zs store info``: a summary of a store (manifest, splits, counts, bytes on disk)."""

from __future__ import annotations

import numpy as np

from zs.errors import StoreError
from zs.store.layout import ARRAYS, TABLES
from zs.store.store import open_store


def store_info(url) -> dict:
    """Manifest summary + per split: counts, per-class matched queries, bytes per array/table."""
    store = open_store(url)
    m = store.manifest
    ident = store.identity
    seg = ident.segmenter
    vocab = store.vocab
    return {
        "url": store.url,
        "schema_version": m.get("schema_version"),
        "zs_version": m.get("zs_version"),
        "sha256": store.sha256,
        "segmenter": {k: seg.get(k) for k in ("name", "path", "sha256", "num_queries", "query_dim", "num_classes")},
        "clip": ident.clip,
        "vocabulary": {"name": vocab.name, "classes": vocab.num_classes, "seen": len(vocab.seen_indices),
                       "unseen": len(vocab.unseen_indices), "things": len(vocab.thing_indices)},
        "unseen_names": [vocab.names[i] for i in vocab.unseen_indices],
        "text": store.text_names(),
        "seen_head": store._loc.exists("seen_head", "config.json"),
        "splits": {name: split_info(store, name) for name in store.splits},
    }


def split_info(store, name: str) -> dict:
    reader = store.split(name)
    out = {"status": reader.meta.get("status"), "images": reader.num_images, "done": int(reader.done().sum()),
           "chunk_images": reader.chunk_images, "mask_shape": reader.meta.get("mask_shape"),
           "clip_dim": reader.clip_dim}
    try:
        out.update(_counts(store, reader))
    except StoreError as e:
        out["tables_error"] = str(e)
    loc = store._loc
    out["bytes"] = {a: loc.size(name, ARRAYS, a) for a in sorted(reader._group.array_keys())}
    out["bytes"].update({f"{t}.parquet": loc.size(name, f"{t}.parquet") for t in TABLES})
    return out


def _counts(store, reader) -> dict:
    q = reader.queries(columns=["label", "segment"])
    segs = reader.table("segments", columns=["seg_row"]).num_rows
    k = store.vocab.num_classes
    matched = q[q.segment >= 0]
    per_class = np.bincount(matched.label.to_numpy(), minlength=k + 1)[:k]
    seen = store.vocab.seen_mask()
    return {
        "queries": int(len(q)),
        "segments": int(segs),
        "matched": {"seen": int(per_class[seen].sum()), "unseen": int(per_class[~seen].sum())},
        "matched_per_class": {store.vocab.names[i]: int(per_class[i]) for i in range(k)},
    }


TOP_CLASSES = 5  # classes shown at each end of the matched-queries ranking
TOP_BYTES = 3  # largest arrays/tables named in the bytes line


def format_info(info: dict, per_class: bool = False) -> str:
    """Human-readable text of :func:`store_info`: a compact per-split summary
    (counts, most and least matched classes, bytes); ``per_class``: every class's count too."""
    seg, voc = info["segmenter"], info["vocabulary"]
    lines = [
        f"store     {info['url']}  (schema {info['schema_version']}, zs {info['zs_version']}, id {info['sha256'][:12]})",
        f"segmenter {seg.get('name')}  sha256 {str(seg.get('sha256'))[:12]}  Q={seg.get('num_queries')} "
        f"D={seg.get('query_dim')} K={seg.get('num_classes')}",
        f"clip      {(info['clip'] or {}).get('model')}  dim {(info['clip'] or {}).get('dim')}",
        f"vocab     {voc['name']}: {voc['classes']} classes ({voc['seen']} seen, {voc['unseen']} unseen, "
        f"{voc['things']} things)",
        f"text      {', '.join(info['text']) or '-'}    seen_head: {'yes' if info['seen_head'] else 'no'}",
    ]
    for name, s in info["splits"].items():
        lines += _split_lines(name, s, info.get("unseen_names") or [], per_class)
    if not per_class and any(s.get("matched_per_class") for s in info["splits"].values()):
        lines.append("(* unseen class; every class's count: --per-class or --json)")
    return "\n".join(lines)


def _split_lines(name: str, s: dict, unseen: list[str], per_class: bool) -> list[str]:
    lines = [f"split {name}: {s['done']}/{s['images']} images done ({s['status']}), "
             f"{s.get('queries', '?')} queries, {s.get('segments', '?')} segments, "
             f"matched seen {s.get('matched', {}).get('seen', '?')} / unseen {s.get('matched', {}).get('unseen', '?')}"]
    if "tables_error" in s:
        lines.append(f"  tables: {s['tables_error']}")
    per = s.get("matched_per_class", {})
    mark = set(unseen)
    if per and per_class:
        from zs.text_table import format_table

        rows = [[k, "unseen" if k in mark else "seen", v] for k, v in per.items()]
        lines += ["  " + line for line in format_table(rows, ["class", "split", "matched queries"]).splitlines()]
    elif per:
        ranked = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))
        k = min(TOP_CLASSES, (len(ranked) + 1) // 2)
        show = lambda items: ", ".join(f"{c}{'*' if c in mark else ''} {v}" for c, v in items)  # noqa: E731
        lines.append(f"  most matched:  {show(ranked[:k])}")
        lines.append(f"  least matched: {show(ranked[::-1][:min(k, len(ranked) - k)])}")
        zero = sum(1 for v in per.values() if v == 0)
        if zero:
            lines.append(f"  {zero} of {len(per)} classes have no matched query")
    sizes = sorted(s["bytes"].items(), key=lambda kv: -kv[1])
    lines.append(f"  bytes: {_mb(sum(s['bytes'].values()))} in all; largest "
                 + ", ".join(f"{k} {_mb(v)}" for k, v in sizes[:TOP_BYTES]))
    return lines


def _mb(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f}GB"
    return f"{n / 1e6:.2f}MB" if n >= 1e5 else f"{n / 1e3:.1f}kB"
