import numpy as np
import pytest

from zs.errors import ConfigError
from zs.synth.world import (
    DEFAULT_CLASSES,
    attribute_ambiguity,
    build_world,
    caption,
    semantic_embeddings,
)


def test_default_world_split_is_zero_shot():
    w = build_world()
    assert len(w.things(seen=False)) >= 2 and len(w.stuff(seen=False)) >= 1
    assert len({c.attributes["pattern"] for c in w.stuff()}) >= 2 and len(w.stuff(seen=True)) >= 3
    # no single attribute value gives a seen class away: each is shown by >= 2 seen classes
    for key, counts in attribute_ambiguity(w).items():
        assert min(counts.values()) >= 2, (key, counts)
    v = w.vocabulary
    assert v.num_classes == len(DEFAULT_CLASSES) and v.ids == list(range(1, v.num_classes + 1))
    assert sorted(v.unseen_indices) == [i for i, c in enumerate(w.classes) if not c.seen]


def test_impossible_splits_are_refused():
    all_seen = [(n, a, True) for n, a, _ in DEFAULT_CLASSES]
    with pytest.raises(ConfigError, match="no unseen class"):
        build_world(all_seen)
    # 'circle' only on unseen classes -> no seen class shows that shape
    no_seen_circle = [(n, a, s and a.get("shape") != "circle") for n, a, s in DEFAULT_CLASSES]
    with pytest.raises(ConfigError, match="shape='circle'"):
        build_world(no_seen_circle)
    with pytest.raises(ConfigError, match="colour='purple'"):
        build_world([("purple circle", {"shape": "circle", "colour": "purple"}, False), *DEFAULT_CLASSES])


def test_semantic_embeddings_follow_attributes():
    w = build_world()
    a = semantic_embeddings(w, seed=0)
    assert a.shape == (len(w.classes), w.semantic_dim) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, semantic_embeddings(w, seed=0))
    assert not np.allclose(a, semantic_embeddings(w, seed=1))
    names = [c.name for c in w.classes]
    sim = a @ a.T
    # an unseen class is closer to a seen class sharing an attribute than to one sharing none
    yc = names.index("yellow circle")
    assert sim[yc, names.index("red circle")] > sim[yc, names.index("blue cross")]
    assert sim[yc, names.index("yellow square")] > sim[yc, names.index("blue cross")]
    assert caption(w.classes[yc]) == "a yellow circle"
