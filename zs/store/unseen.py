"""Zero-shot hygiene: a split that methods train on must hold no matched query of an unseen class.

A store extracted from the unfiltered COCO train JSON (instead of the
seen-only one ``zs split`` writes) matches queries to unseen classes; training
on them makes the run transductive. The training commands refuse such a split
unless the user asks for it explicitly.
"""

from __future__ import annotations

import numpy as np

from zs.errors import StoreError

ALLOW_FLAG = "--allow-unseen-in-train"


def unseen_matched_counts(split, vocab) -> dict[int, int]:
    """{vocabulary index of an unseen class: number of queries of ``split`` matched to it}."""
    unseen = np.asarray(vocab.unseen_indices, dtype=np.int64)
    if unseen.size == 0:
        return {}
    labels = split.queries(columns=["label"])["label"].to_numpy()
    found, counts = np.unique(labels[np.isin(labels, unseen)], return_counts=True)
    return {int(i): int(n) for i, n in zip(found, counts)}


def check_no_unseen_matched(store, split_name: str, *, allow: bool = False, flag: str = ALLOW_FLAG) -> None:
    """StoreError (one line, naming the classes and counts) if ``split_name`` has matched unseen queries."""
    if allow:
        return
    vocab = store.vocab
    counts = unseen_matched_counts(store.split(split_name), vocab)
    if not counts:
        return
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    named = ", ".join(f"{vocab.names[i]} (id {vocab.ids[i]}) x{n}" for i, n in items[:8])
    more = f", +{len(items) - 8} more classes" if len(items) > 8 else ""
    raise StoreError(
        f"store {store.url}: split '{split_name}' has {sum(counts.values())} matched queries of unseen classes "
        f"[{named}{more}]; extract training features from the seen-only annotations (zs split), "
        f"or pass {flag} for a transductive experiment"
    )
