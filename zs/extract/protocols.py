"""PADing's COCO zero-shot protocols: class lists in the order its checkpoints use.

A checkpoint's class index k is the k-th class of its protocol's list, so each list
below is kept in PADing's contiguous order (seen classes first, then unseen).

* ``coco-panoptic``: the 133 COCO panoptic classes (``zs.extract.d2.coco_categories``), 14
  unseen (``zs.vocab.PADING_UNSEEN_IDS``); its list is the panoptic JSON's own.
* ``coco-stuff-171``: COCO-Stuff's 171 classes, 156 seen then 15 unseen (the ZegFormer
  split). Source: PADing ``PADing/data/datasets/register_coco_stuff.py``
  (``COCO_CATEGORIES_Seen`` + ``COCO_CATEGORIES_Unseen``, contiguous = seen then unseen;
  its ids are the 0-based label values of COCO-Stuff's label maps, i.e. COCO id - 1),
  the same split as ZegFormer ``mask_former/data/datasets/register_coco_stuff.py``.
* ``coco-zsi-48-17``: 65 COCO thing classes, 48 seen then 17 unseen (the GZSI split of
  zero-shot instance segmentation). Source: PADing
  ``PADing/data/datasets/register_coco_zsi_48_17.py`` (``COCO_ZSI_TEST_CATEGORIES``,
  in that order).

Ids here are COCO's (1-based; COCO-Stuff stuff ids 92..182).
"""

from __future__ import annotations

from zs.extract.d2.coco_categories import COCO_PANOPTIC_CATEGORIES
from zs.vocab import Category, Vocabulary

# COCO-Stuff's 91 stuff classes, ids 92..182 in order (cocostuff labels.md)
_STUFF_91 = """banner blanket branch bridge building-other bush cabinet cage cardboard carpet ceiling-other
ceiling-tile cloth clothes clouds counter cupboard curtain desk-stuff dirt door-stuff fence floor-marble
floor-other floor-stone floor-tile floor-wood flower fog food-other fruit furniture-other grass gravel
ground-other hill house leaves light mat metal mirror-stuff moss mountain mud napkin net paper pavement pillow
plant-other plastic platform playingfield railing railroad river road rock roof rug salad sand sea shelf
sky-other skyscraper snow solid-other stairs stone straw structural-other table tent textile-other towel tree
vegetable wall-brick wall-concrete wall-other wall-panel wall-stone wall-tile wall-wood water-other waterdrops
window-blind window-other wood""".split()

# cow giraffe suitcase frisbee skateboard carrot scissors cardboard clouds grass playingfield river road tree
# wall-concrete
COCO_STUFF_UNSEEN_IDS = (21, 25, 33, 34, 41, 57, 87, 100, 106, 124, 145, 148, 149, 169, 172)

ZSI_48_17_SEEN_IDS = (1, 2, 3, 4, 8, 9, 15, 16, 19, 20, 24, 25, 27, 31, 35, 38, 42, 44, 50, 51, 52, 53, 55, 56, 57,
                      59, 60, 62, 65, 72, 73, 75, 78, 79, 82, 84, 85, 86, 90, 7, 23, 33, 34, 48, 54, 70, 74, 80)
# bus dog cow elephant umbrella tie skateboard cup knife cake couch keyboard sink scissors airplane cat snowboard
ZSI_48_17_UNSEEN_IDS = (6, 18, 21, 22, 28, 32, 41, 47, 49, 61, 63, 76, 81, 87, 5, 17, 36)

_THINGS = {c["id"]: c["name"] for c in COCO_PANOPTIC_CATEGORIES if c["isthing"]}


def coco_stuff_171() -> Vocabulary:
    """COCO-Stuff 171 in PADing's order: 156 seen (id order), then the 15 unseen (id order)."""
    names = {**_THINGS, **{92 + k: n for k, n in enumerate(_STUFF_91)}}
    unseen = set(COCO_STUFF_UNSEEN_IDS)
    order = [i for i in sorted(names) if i not in unseen] + sorted(unseen)
    return Vocabulary("coco-stuff-171", tuple(Category(i, names[i], i in _THINGS, i not in unseen) for i in order))


def coco_zsi_48_17() -> Vocabulary:
    """The 65 COCO things of the 48/17 GZSI split, in PADing's order (48 seen, then 17 unseen)."""
    cats = [Category(i, _THINGS[i], True, True) for i in ZSI_48_17_SEEN_IDS]
    cats += [Category(i, _THINGS[i], True, False) for i in ZSI_48_17_UNSEEN_IDS]
    return Vocabulary("coco-zsi-48-17", tuple(cats))
