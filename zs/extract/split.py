"""The zero-shot train split of a COCO panoptic JSON (``zs split coco-panoptic``)."""

from __future__ import annotations

from zs.errors import ZsError


def zero_shot_train_split(data: dict, unseen_ids: set[int]) -> tuple[dict, dict]:
    """Drop every image with any segment (crowd included) of an unseen class -> (json, counts)."""
    cats = {int(c["id"]) for c in data["categories"]}
    missing = sorted(unseen_ids - cats)
    if missing:
        raise ZsError(f"unseen category ids {missing} are not in the JSON's categories")
    drop = {int(a["image_id"]) for a in data["annotations"]
            if any(int(s["category_id"]) in unseen_ids for s in a.get("segments_info", []))}
    keep_imgs = [im for im in data["images"] if int(im["id"]) not in drop]
    keep_anns = [a for a in data["annotations"] if int(a["image_id"]) not in drop]
    seg_seen = sum(len(a.get("segments_info", [])) for a in keep_anns)
    seg_unseen_dropped = sum(1 for a in data["annotations"] if int(a["image_id"]) in drop
                             for s in a.get("segments_info", []) if int(s["category_id"]) in unseen_ids)
    out = {**data, "images": keep_imgs, "annotations": keep_anns}
    counts = {"images_kept": len(keep_imgs), "images_dropped": len(data["images"]) - len(keep_imgs),
              "segments_kept": seg_seen, "unseen_segments_dropped": seg_unseen_dropped,
              "unseen_classes": len(unseen_ids)}
    return out, counts


def unseen_category_ids(data: dict, unseen: str | None, source: str = "the JSON") -> set[int]:
    """Category ids of an unseen class list file (ids or names of ``data``'s categories); None: PADing's 14."""
    from zs.vocab import PADING_UNSEEN_IDS, read_class_list

    if not unseen:
        return set(PADING_UNSEEN_IDS)
    by_name = {c["name"]: int(c["id"]) for c in data["categories"]}
    ids = set()
    for u in read_class_list(unseen):
        if u.isdigit():
            ids.add(int(u))
        elif u in by_name:
            ids.add(by_name[u])
        else:
            raise ZsError(f"{unseen}: class '{u}' is not in {source}'s categories")
    return ids


def split_coco_panoptic(json_in: str, json_out: str, unseen: str | None = None) -> dict:
    """Write ``json_out``: ``json_in`` without the images holding an unseen segment -> counts."""
    from zs.manifest import read_json, write_json_atomic
    from zs.paths import check_out_file

    check_out_file(json_out, "JSON_OUT", inputs={"JSON_IN": json_in, "--unseen": unseen})
    data = read_json(json_in)
    if "categories" not in data or "annotations" not in data:
        raise ZsError(f"{json_in}: not a COCO panoptic JSON (needs categories, annotations)")
    out, counts = zero_shot_train_split(data, unseen_category_ids(data, unseen, json_in))
    write_json_atomic(json_out, out)
    return counts
