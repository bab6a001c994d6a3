"""PQ's pixel counting: the PNG reader (libspng, Pillow fallback) and the lookup-table intersections."""

import numpy as np
import pytest
from PIL import Image

from zs.errors import ZsError
from zs.evaluate.metrics.panoptic import OFFSET, _intersections, image_pq_stat
from zs.evaluate.metrics.panoptic_files import read_panoptic_png, rgb2id


def _ids(rng, h=37, w=53):
    palette = np.array([0, 1, 255, 256, 65535, 65536, OFFSET - 1, 123456], dtype=np.int64)
    return palette[rng.integers(0, len(palette), (h, w))]


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P"])
def test_png_reader_matches_plain_decoding(tmp_path, mode):
    ids = _ids(np.random.default_rng(0))
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
    im = Image.fromarray(rgb)
    if mode == "RGBA":
        im = im.convert("RGBA")
        im.putalpha(7)  # alpha is not part of the id
    elif mode == "P":
        im = im.quantize(colors=16, method=Image.Quantize.MAXCOVERAGE)  # exact: 8 colours
    im.save(tmp_path / "x.png")
    got = read_panoptic_png(tmp_path / "x.png")
    assert got.dtype == np.uint32 and got.shape == ids.shape
    np.testing.assert_array_equal(got, rgb2id(np.asarray(Image.open(tmp_path / "x.png").convert("RGB"))))
    if mode != "P":
        np.testing.assert_array_equal(got, ids)


def test_png_reader_errors_and_fallback(tmp_path):
    with pytest.raises(ZsError, match="not found"):
        read_panoptic_png(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ZsError, match="not a readable PNG"):
        read_panoptic_png(tmp_path / "bad.png")
    Image.fromarray(np.full((4, 5, 3), [1, 2, 3], np.uint8)).save(tmp_path / "x.bmp")  # Pillow-only format
    assert (read_panoptic_png(tmp_path / "x.bmp") == 1 + 2 * 256 + 3 * 65536).all()


def test_intersections_equal_unique_counts():
    rng = np.random.default_rng(1)
    gt, pred = _ids(rng), np.roll(_ids(rng), 3)
    keys_g, keys_p = sorted(set(np.unique(gt)) - {0}), sorted(set(np.unique(pred)) - {0})
    inter = _intersections(gt, keys_g, pred.astype(np.uint32), keys_p, "img")
    pairs, counts = np.unique(gt.astype(np.uint64) * OFFSET + pred.astype(np.uint64), return_counts=True)
    ref = np.zeros_like(inter)
    rows, cols = {k: i for i, k in enumerate([0, *keys_g])}, {k: j for j, k in enumerate([0, *keys_p])}
    for pair, c in zip(pairs.tolist(), counts.tolist()):
        ref[rows[pair // OFFSET], cols[pair % OFFSET]] = c
    np.testing.assert_array_equal(inter, ref)
    again = _intersections(gt, keys_g, pred, keys_p, "img")  # the table is reset after each use
    np.testing.assert_array_equal(again, ref)


def test_unknown_or_out_of_range_ids_are_refused():
    gt = np.array([[0, 5], [5, 9]])
    segs = [{"id": 5, "category_id": 1, "iscrowd": 0, "area": 2}]
    with pytest.raises(ZsError, match="segment id 9 is in the PNG but not in segments_info"):
        image_pq_stat(gt, segs, np.zeros((2, 2), np.int64), [], {1}, "img")
    with pytest.raises(ZsError, match=r"\[0, 2\^24\)"):
        image_pq_stat(np.array([[0, -1]]), [], np.zeros((1, 2), np.int64), [], {1}, "img")
    with pytest.raises(ZsError, match=r"\[0, 2\^24\)"):
        image_pq_stat(np.array([[0, OFFSET]]), [], np.zeros((1, 2), np.int64), [], {1}, "img")
