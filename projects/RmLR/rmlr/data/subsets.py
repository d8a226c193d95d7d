"""Derived training sets: zero-shot (unseen HOI classes removed) and low-data (image subsets).

:func:`register_hoi_subset` registers a dataset computed from a registered HOI training set when
it is loaded (registration reads nothing). ``import rmlr`` registers (:func:`register_all_subsets`):

* ``hico_det_train_zs_{rf_uc,nf_uc,uo,uv}``: HICO-DET's four zero-shot settings
  (:mod:`rmlr.data.zero_shot`);
* ``synthetic_hoi_train_zs_{uc,uv}``: the synthetic dataset's two settings;
* ``{hico_det,synthetic_hoi}_train_{1,5,15,25,50}pct``: seeded image subsets (seed 0).

Zero-shot training protocol (GEN-VLKT, https://github.com/YueLiao/gen-vlkt ``datasets/hico.py``;
HOICLIP, https://github.com/Artanic30/HOICLIP, the same): every human-object pair (subject and
object entity) that carries at least one unseen HOI label is dropped with *all* its labels, then
every image left without a pair; the counts are logged. The entities stay in the image (they are
drawn; a frozen detector finds them), so a pair of an unseen class is unlabelled in training, as in
those works. The metadata is the base dataset's plus ``unseen_hoi_ids``, ``seen_hoi_ids``,
``zero_shot_setting`` and ``seen_valid_verbs_per_object`` (the verbs of the seen classes per object:
the training mask of the visual classifier, ``train_valid_verbs_per_object`` of
:class:`~rmlr.modeling.meta_arch.rmlr.RmLR`); ``valid_verbs_per_object`` keeps every class, so the
unseen ones are scored at test time.

Low-data protocol (HOICLIP's): a uniformly drawn subset of ``percent`` % of the (non-empty)
training images, at least one, drawn by ``numpy.random.default_rng(seed)`` and kept in the base
dataset's order: the same images for the same base dataset, percentage and seed on any machine.
"""

import functools
import logging
from typing import Dict, List, Optional

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog

from .metadata import HOIMetadata, register_metadata
from .zero_shot import (
    HICO_DET_ZERO_SHOT_SETTINGS,
    read_unseen_hoi_ids,
    seen_valid_verbs_per_object,
)

__all__ = [
    "LOW_DATA_PERCENTS",
    "register_hoi_subset",
    "register_all_subsets",
    "drop_unseen_pairs",
    "sample_images",
    "unseen_hoi_ids_from_metadata",
    "seen_valid_verbs_from_metadata",
]

logger = logging.getLogger(__name__)

#: HOICLIP's low-data percentages.
LOW_DATA_PERCENTS = (1, 5, 15, 25, 50)


def drop_unseen_pairs(dataset_dicts: List[Dict], hoi_classes, unseen_hoi_ids, name: str = ""):
    """The zero-shot training protocol on dataset dicts (module docstring); new dicts, counts logged.

    Returns:
        The images that keep at least one pair, each with only its kept ``interactions``.
    """
    lookup = {tuple(c): i for i, c in enumerate(hoi_classes)}
    unseen = set(int(i) for i in unseen_hoi_ids)
    out, pairs_dropped, labels_dropped, images_dropped = [], 0, 0, 0
    for d in dataset_dicts:
        anns = d["annotations"]

        def hoi_of(row):
            return lookup[(anns[int(row[1])]["category_id"], int(row[2]))]

        drop = {(int(s), int(o)) for s, o, v in d["interactions"] if hoi_of((s, o, v)) in unseen}
        kept = [r for r in d["interactions"] if (int(r[0]), int(r[1])) not in drop]
        pairs_dropped += len(drop)
        labels_dropped += len(d["interactions"]) - len(kept)
        if not kept:
            images_dropped += 1
            continue
        out.append({**d, "interactions": kept})
    logger.info(
        f"{name}: zero-shot protocol dropped {pairs_dropped} human-object pairs with an unseen HOI "
        f"label ({labels_dropped} labels), then {images_dropped} images left without a pair; "
        f"{len(out)} of {len(dataset_dicts)} images kept, "
        f"{sum(len(d['interactions']) for d in out)} labels"
    )
    if not out:
        raise ValueError(f"{name}: no training image is left after dropping the unseen classes")
    return out


def sample_images(dataset_dicts: List[Dict], percent: float, seed: int, name: str = ""):
    """``percent`` % of the images (at least one), seeded, in the original order."""
    if not 0 < percent <= 100:
        raise ValueError(f"{name}: percent must be in (0, 100], got {percent}")
    n = len(dataset_dicts)
    k = max(1, int(round(n * percent / 100.0)))
    keep = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    logger.info(f"{name}: {k} of {n} training images ({percent}%, seed {seed})")
    return [dataset_dicts[i] for i in keep]


def _load_subset(name, base, setting, percent, seed):
    dicts = DatasetCatalog.get(base)
    if setting is not None:
        meta = MetadataCatalog.get(name)
        dicts = drop_unseen_pairs(dicts, meta.hoi_classes, meta.unseen_hoi_ids, name)
    if percent is not None:
        dicts = sample_images(dicts, percent, seed, name)
    return dicts


def _zero_shot_provider(base: str, setting: str) -> Dict:
    meta = MetadataCatalog.get(base)
    hoi_classes = [tuple(c) for c in meta.hoi_classes]
    unseen = read_unseen_hoi_ids(setting, len(hoi_classes))
    return {
        "unseen_hoi_ids": unseen,
        "seen_hoi_ids": sorted(set(range(len(hoi_classes))) - set(unseen)),
        "seen_valid_verbs_per_object": seen_valid_verbs_per_object(
            hoi_classes, unseen, len(meta.thing_classes)
        ),
    }


def _base_provider(base: str, key: str) -> Dict:
    return {key: getattr(MetadataCatalog.get(base), key)}


def register_hoi_subset(
    name: str,
    base: str,
    *,
    zero_shot: Optional[str] = None,
    percent: Optional[float] = None,
    seed: int = 0,
) -> None:
    """Register ``name`` as a subset of the registered training set ``base``.

    Args:
        name: the new dataset name.
        base: a registered HICO-DET-style dataset (``evaluator_type == "hico_det"``).
        zero_shot: a setting of :mod:`rmlr.data.zero_shot` (``"uv"``, ``"synthetic_uc"``, ...) or
            a JSON file of unseen HOI ids: drop the pairs of unseen classes (module docstring).
        percent: keep this percentage of the images (after the zero-shot filter, if any).
        seed: the image sample's seed.
    """
    if zero_shot is None and percent is None:
        raise ValueError(f"{name}: give zero_shot and/or percent")
    if percent is not None and not 0 < percent <= 100:
        raise ValueError(f"{name}: percent must be in (0, 100], got {percent}")
    if base not in DatasetCatalog.list():
        raise KeyError(f"{name}: base dataset {base!r} is not registered")
    DatasetCatalog.register(
        name, functools.partial(_load_subset, name, base, zero_shot, percent, seed)
    )
    base_meta = MetadataCatalog.get(base)
    lazy = {}
    for key in ("rare_hoi_ids", "non_rare_hoi_ids"):
        lazy[key] = functools.partial(_base_provider, base, key)
    extra = dict(base_dataset=base, subset_percent=percent, subset_seed=seed)
    if zero_shot is not None:
        provider = functools.partial(_zero_shot_provider, base, zero_shot)
        for key in ("unseen_hoi_ids", "seen_hoi_ids", "seen_valid_verbs_per_object"):
            lazy[key] = provider
        extra["zero_shot_setting"] = zero_shot
    values = {k: v for k, v in base_meta.as_dict().items() if k not in ("name", *lazy)}
    register_metadata(name, HOIMetadata(name=name, lazy=lazy).set(**values, **extra))


def register_all_subsets() -> None:
    """The built-in derived sets (module docstring)."""
    for setting in HICO_DET_ZERO_SHOT_SETTINGS:
        register_hoi_subset(f"hico_det_train_zs_{setting}", "hico_det_train", zero_shot=setting)
    for kind in ("uc", "uv"):
        register_hoi_subset(
            f"synthetic_hoi_train_zs_{kind}", "synthetic_hoi_train", zero_shot=f"synthetic_{kind}"
        )
    for base in ("hico_det_train", "synthetic_hoi_train"):
        for percent in LOW_DATA_PERCENTS:
            register_hoi_subset(f"{base}_{percent}pct", base, percent=percent, seed=0)


def unseen_hoi_ids_from_metadata(dataset_name: str) -> List[int]:
    """``MetadataCatalog.get(dataset_name).unseen_hoi_ids``, for configs (the evaluator)."""
    meta = MetadataCatalog.get(dataset_name)
    if not hasattr(meta, "unseen_hoi_ids"):
        raise KeyError(f"dataset {dataset_name!r} is no zero-shot set (no 'unseen_hoi_ids')")
    return list(meta.unseen_hoi_ids)


def seen_valid_verbs_from_metadata(dataset_name: str) -> List[List[int]]:
    """``seen_valid_verbs_per_object`` of a zero-shot training set, for configs (the model's
    training mask)."""
    meta = MetadataCatalog.get(dataset_name)
    if not hasattr(meta, "seen_valid_verbs_per_object"):
        raise KeyError(f"dataset {dataset_name!r} is no zero-shot set (no unseen classes)")
    return [list(v) for v in meta.seen_valid_verbs_per_object]
