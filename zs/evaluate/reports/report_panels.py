"""Report blocks of qualitative panels: runs -> the same images under every run, one PNG grid.

Used by the single-run report (one column) and the batch report (a column per
row of the ablation table). Anything that cannot be drawn (a run whose store or
head is gone, a store split without masks, an image file missing from disk)
becomes a grey tile and a one-line note; the rest of the report is written.
"""

from __future__ import annotations

import logging
from pathlib import Path

from zs.errors import ZsError

log = logging.getLogger(__name__)

PANEL_IMAGES = 8
PAGE_WIDTH = 1180  # pixels of the HTML report's body (report_render.CSS: max-width 1200px)
LEGEND = ("Colours: one per class, the same in every column. White outline + label: a segment of an unseen "
          "class. Red outline + '✗' label: an unseen ground-truth segment predicted as the seen class named.")


def panel_blocks(runs: list[tuple[str, Path]], *, n: int = PANEL_IMAGES, seed: int = 0,
                 file_name: str = "panels.png", device: str = "cpu") -> list:
    """``[("h", ...), ("p", legend), ("img", file_name, png, alt), ("p", note)...]`` for ``runs`` = [(title, dir)]."""
    from zs.evaluate.reports.panels import render_grid

    head = [("h", 2, "Qualitative results")]
    if not runs or n < 1:
        return []
    try:
        rows, style, notes = _rows(runs[0][1], n, seed, tile_size(len(runs)))
    except ZsError as e:
        log.warning("qualitative panels not drawn: %s", e)
        return head + [("p", f"Qualitative panels not drawn: {e}")]
    ids = [r.image_id for r in rows]
    columns = []
    for title, run_dir in runs:
        col = _column(title, run_dir, ids, device)
        if col.problem:
            notes.append(f"{title}: {col.problem}")
        columns.append(col)
    intro = (f"{len(rows)} validation images (seed {seed}; those holding an unseen class first): "
             f"image | ground truth | " + " | ".join(t for t, _ in runs) + ". " + LEGEND)
    blocks = head + [("p", intro), ("img", file_name, render_grid(rows, columns, style), "qualitative panels")]
    return blocks + [("p", f"Missing: {note}") for note in notes]


def _rows(run_dir: Path, n: int, seed: int, tile: int):
    """The chosen images of the first run: picture (or the reason it is missing) and ground truth."""
    from zs.evaluate.evaluation.predict import evaluated_ids, run_source
    from zs.evaluate.evaluation.streaming import PanopticGroundTruth
    from zs.evaluate.reports.panels import PanelStyle, Row, choose_images
    from zs.extract.datasets import read_rgb
    from zs.manifest import read_json

    source = run_source(run_dir)
    vocab = source.vocab
    gt_reader = PanopticGroundTruth(source.gt_json, source.gt_png, vocab)
    unseen_ids = [vocab.ids[i] for i in vocab.unseen_indices]
    ids = choose_images(gt_reader, evaluated_ids(source), unseen_ids, n=n, seed=seed)
    if not ids:
        raise ZsError(f"{run_dir}: the run evaluated no image")
    table = {int(c["id"]): c for c in read_json(source.gt_json).get("categories", [])}
    categories = [{**table.get(c.id, {}), "id": c.id, "name": c.name, "isthing": int(c.isthing)}
                  for c in vocab.categories]
    rows, notes = [], []
    for image_id in ids:
        gt = gt_reader.load(image_id)
        path = source.image_path(image_id)
        image, problem = None, None
        try:
            if path is None:
                raise ZsError(f"image {image_id}: no image file named by {source.gt_json} / the run's dataset")
            image = read_rgb(path)
        except ZsError as e:
            problem = str(e)
            notes.append(problem)
        rows.append(Row(image_id, Path(gt.file_name).stem, image, (gt.ids, gt.segments), problem))
    return rows, PanelStyle(categories, unseen_ids, tile=tile), notes


def tile_size(num_columns: int) -> int:
    """Tile side so that image + ground truth + the columns fit the report's width unscaled."""
    return int(min(256, max(96, PAGE_WIDTH // (num_columns + 2) - 4)))


def _column(title: str, run_dir: Path, ids: list[int], device: str):
    """Predictions of ``run_dir`` for ``ids``: saved ones if complete, else its inference run again."""
    from zs.evaluate.evaluation.predict import Captured, evaluated_ids, predict, run_source, saved_panoptic
    from zs.evaluate.reports.panels import Column

    try:
        saved = saved_panoptic(run_dir, ids)
        if saved is not None:
            return Column(title, saved)
        source = run_source(run_dir)
        done = set(evaluated_ids(source))
        captured = Captured()
        predict(source, [i for i in ids if i in done], captured, device=device)
        return Column(title, captured.panoptic)
    except ZsError as e:
        return Column(title, problem=str(e))
