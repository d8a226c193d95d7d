"""Registration of the built-in HOI datasets (done by ``import rmlr``).

Roots come from ``$DETECTRON2_DATASETS`` (default ``datasets``, relative to the working directory
at import time, as in Detectron2), with this tree (``datasets/README.md``)::

    $DETECTRON2_DATASETS/
      hicodet/instances_{train,test}2015.json
      hicodet/hico_20160224_det/images/{train2015,test2015}/
      vcoco/instances_vcoco_{train,val,trainval,test}.json
      coco/{train2014,val2014}/
      synthetic_hoi/        (generated on first use)

Registered names (annotations; images; images without interactions):

* ``hico_det_train``: ``hicodet/instances_train2015.json``; ``.../images/train2015``; dropped
* ``hico_det_test``: ``hicodet/instances_test2015.json``; ``.../images/test2015``; kept
* ``vcoco_trainval`` / ``vcoco_train``: ``vcoco/instances_vcoco_<split>.json``;
  ``coco/train2014``; dropped
* ``vcoco_val``: ``vcoco/instances_vcoco_val.json``; ``coco/train2014``; kept
* ``vcoco_test``: ``vcoco/instances_vcoco_test.json``; ``coco/val2014``; kept
* ``synthetic_hoi_train`` / ``synthetic_hoi_test``: ``synthetic_hoi/instances_<split>.json``;
  ``synthetic_hoi/images/<split>``; dropped / kept (:mod:`rmlr.data.synthetic`)
* ``synthetic_hoi_pretrain_train`` / ``_test``: the same under ``synthetic_hoi_pretrain/`` (seed 1,
  4,000 training images): pre-training data for the tiny DETR

Derived training sets (:mod:`rmlr.data.subsets`): ``hico_det_train_zs_{rf_uc,nf_uc,uo,uv}``,
``synthetic_hoi_train_zs_{uc,uv}`` (zero-shot) and ``{hico_det,synthetic_hoi}_train_{1,5,15,25,50}pct``
(low-data).

HICO-DET's rare / non-rare split is computed from ``instances_train2015.json`` when it exists,
else taken from the test file's ``rare`` list. Nothing is read at registration.
"""

import os

from .hico_det import register_hico_det
from .subsets import register_all_subsets
from .synthetic import register_synthetic_hoi
from .vcoco import register_vcoco

__all__ = ["register_all_hico_det", "register_all_vcoco", "datasets_root"]


def datasets_root() -> str:
    """``$DETECTRON2_DATASETS`` (default ``datasets``) as an absolute path."""
    return os.path.abspath(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))


def register_all_hico_det(root: str) -> None:
    hico = os.path.join(root, "hicodet")
    images = os.path.join(hico, "hico_20160224_det", "images")
    train_json = os.path.join(hico, "instances_train2015.json")
    register_hico_det(
        "hico_det_train",
        train_json,
        os.path.join(images, "train2015"),
        train_json_file=train_json,
        filter_empty=True,
    )
    register_hico_det(
        "hico_det_test",
        os.path.join(hico, "instances_test2015.json"),
        os.path.join(images, "test2015"),
        train_json_file=train_json,
    )


def register_all_vcoco(root: str) -> None:
    for split, image_folder, filter_empty in (
        ("trainval", "train2014", True),
        ("train", "train2014", True),
        ("val", "train2014", False),
        ("test", "val2014", False),
    ):
        register_vcoco(
            f"vcoco_{split}",
            os.path.join(root, "vcoco", f"instances_vcoco_{split}.json"),
            os.path.join(root, "coco", image_folder),
            filter_empty=filter_empty,
        )


_root = datasets_root()
register_all_hico_det(_root)
register_all_vcoco(_root)
register_synthetic_hoi(os.path.join(_root, "synthetic_hoi"))
# The tiny DETR's pre-training set (the synthetic analogue of COCO for the real DETR): the same
# generator with another seed and 10x the images; disjoint from synthetic_hoi.
register_synthetic_hoi(
    os.path.join(_root, "synthetic_hoi_pretrain"),
    names=("synthetic_hoi_pretrain_train", "synthetic_hoi_pretrain_test"),
    num_train=4000,
    num_test=100,
    seed=1,
)
register_all_subsets()
