"""Zero-shot HOI settings: which HOI classes are unseen in training.

HICO-DET's four public settings (GEN-VLKT / HOICLIP protocol) ship with the package in
``hico_det_zero_shot_splits.json`` (provenance and licence in ``hico_det_zero_shot_splits.md``):

* ``rf_uc``: rare-first unseen combinations (120 classes, ``rare_first`` in the file);
* ``nf_uc``: non-rare-first unseen combinations (120, ``non_rare_first``);
* ``uo``: unseen objects (100 classes of 12 objects, ``unseen_object``);
* ``uv``: unseen verbs (84 classes of 20 verbs, ``unseen_verb``).

The synthetic dataset (:mod:`rmlr.data.synthetic`) has two settings of the same kinds:

* ``synthetic_uc``: three unseen (object, verb) combinations whose verbs are seen with other
  objects: ``cup inspect`` (``inspect`` is seen with bicycle, sports ball, kite), ``sports ball
  carry`` (``carry`` is seen with every other object) and ``bicycle look_at``;
* ``synthetic_uv``: the verb ``inspect`` held out entirely (its 4 classes), the recommendation of
  ``datasets/README.md``: its cues are those of ``hold`` + ``look_at``, which stay seen, and the
  teacher relates the names.

A setting is named by these keys, or given as a JSON file (:func:`read_unseen_hoi_ids`): a list of
HOI ids, or a dict with ``"unseen_hoi_ids"``.
"""

import functools
import json
import os
from typing import Dict, List, Sequence, Tuple

from .metadata import COCO_THING_CLASSES
from .parsing import check_id, check_list, read_json
from .synthetic import SYNTHETIC_HOI_CLASSES, SYNTHETIC_VERBS

__all__ = [
    "HICO_DET_ZERO_SHOT_SETTINGS",
    "SYNTHETIC_ZERO_SHOT_SETTINGS",
    "ZERO_SHOT_SPLITS_FILE",
    "hico_det_zero_shot_splits",
    "synthetic_zero_shot_splits",
    "zero_shot_unseen_hoi_ids",
    "read_unseen_hoi_ids",
    "seen_valid_verbs_per_object",
    "write_unseen_hoi_ids",
]

#: The splits file shipped with the package.
ZERO_SHOT_SPLITS_FILE = os.path.join(os.path.dirname(__file__), "hico_det_zero_shot_splits.json")
#: setting -> (key in the splits file, number of unseen classes)
HICO_DET_ZERO_SHOT_SETTINGS: Dict[str, Tuple[str, int]] = {
    "rf_uc": ("rare_first", 120),
    "nf_uc": ("non_rare_first", 120),
    "uo": ("unseen_object", 100),
    "uv": ("unseen_verb", 84),
}
_NUM_HICO_HOI = 600

_SYNTHETIC_UC = (("cup", "inspect"), ("sports ball", "carry"), ("bicycle", "look_at"))
_SYNTHETIC_UV_VERB = "inspect"
SYNTHETIC_ZERO_SHOT_SETTINGS = ("synthetic_uc", "synthetic_uv")


@functools.lru_cache(maxsize=None)
def _hico_splits(path: str) -> Dict[str, Tuple[int, ...]]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of split name -> HOI id list")
    splits = {}
    for setting, (key, count) in HICO_DET_ZERO_SHOT_SETTINGS.items():
        if key not in data:
            raise ValueError(f"{path}: missing split {key!r} (setting {setting})")
        ids = check_list(data[key], f"'{key}'", path)
        ids = tuple(check_id(i, _NUM_HICO_HOI, "HOI id", f"{path}: '{key}'") for i in ids)
        if len(ids) != count or len(set(ids)) != count:
            raise ValueError(
                f"{path}: split {key!r} must list {count} distinct HOI ids, got {len(ids)} "
                f"({len(set(ids))} distinct)"
            )
        splits[setting] = tuple(sorted(ids))
    return splits


def hico_det_zero_shot_splits(path: str = ZERO_SHOT_SPLITS_FILE) -> Dict[str, List[int]]:
    """``{"rf_uc", "nf_uc", "uo", "uv"}`` -> sorted unseen HOI ids (checked counts)."""
    return {k: list(v) for k, v in _hico_splits(os.path.abspath(path)).items()}


def synthetic_zero_shot_splits() -> Dict[str, List[int]]:
    """``{"synthetic_uc", "synthetic_uv"}`` -> sorted unseen HOI ids of the synthetic dataset."""
    name_of = {i: n for i, n in enumerate(COCO_THING_CLASSES)}
    classes = [(name_of[o], SYNTHETIC_VERBS[v]) for o, v in SYNTHETIC_HOI_CLASSES]
    uc = sorted(classes.index(c) for c in _SYNTHETIC_UC)
    uv = [i for i, (_, verb) in enumerate(classes) if verb == _SYNTHETIC_UV_VERB]
    return {"synthetic_uc": uc, "synthetic_uv": uv}


def zero_shot_unseen_hoi_ids(setting: str) -> List[int]:
    """Unseen HOI ids of a named setting (``rf_uc``, ``nf_uc``, ``uo``, ``uv``,
    ``synthetic_uc``, ``synthetic_uv``)."""
    if setting in HICO_DET_ZERO_SHOT_SETTINGS:
        return hico_det_zero_shot_splits()[setting]
    if setting in SYNTHETIC_ZERO_SHOT_SETTINGS:
        return synthetic_zero_shot_splits()[setting]
    known = list(HICO_DET_ZERO_SHOT_SETTINGS) + list(SYNTHETIC_ZERO_SHOT_SETTINGS)
    raise ValueError(f"unknown zero-shot setting {setting!r}; known: {known} (or a .json file)")


def read_unseen_hoi_ids(setting_or_path: str, num_hoi_classes: int) -> List[int]:
    """Unseen HOI ids of a named setting or of a JSON file (a list of ids, or a dict with
    ``"unseen_hoi_ids"``), checked against the dataset's ``num_hoi_classes``."""
    if setting_or_path.endswith(".json") or os.path.isfile(setting_or_path):
        path = setting_or_path
        data = read_json(path)
        if isinstance(data, dict):
            if "unseen_hoi_ids" not in data:
                raise ValueError(f"{path}: a dict needs the key 'unseen_hoi_ids'")
            data = data["unseen_hoi_ids"]
        values = check_list(data, "'unseen_hoi_ids'", path)
        ids = [check_id(i, num_hoi_classes, "HOI id", f"{path}: 'unseen_hoi_ids'") for i in values]
        where = path
    else:
        ids = zero_shot_unseen_hoi_ids(setting_or_path)
        where = f"zero-shot setting {setting_or_path!r}"
        if max(ids) >= num_hoi_classes:
            raise ValueError(
                f"{where} has HOI ids up to {max(ids)}, but the dataset has only "
                f"{num_hoi_classes} HOI classes (a setting of another dataset?)"
            )
    if not ids:
        raise ValueError(f"{where}: no unseen HOI class")
    if len(set(ids)) == num_hoi_classes:
        raise ValueError(f"{where}: every HOI class is unseen (nothing seen to compare with)")
    return sorted(set(int(i) for i in ids))


def seen_valid_verbs_per_object(
    hoi_classes: Sequence[Tuple[int, int]], unseen_hoi_ids: Sequence[int], num_objects: int
) -> List[List[int]]:
    """``result[o]``: sorted verb ids forming a *seen* HOI class with object ``o``."""
    unseen = set(int(i) for i in unseen_hoi_ids)
    verbs: List[set] = [set() for _ in range(num_objects)]
    for i, (obj, verb) in enumerate(hoi_classes):
        if i not in unseen:
            verbs[obj].add(verb)
    return [sorted(v) for v in verbs]


def write_unseen_hoi_ids(path: str, unseen_hoi_ids: Sequence[int]) -> None:
    """Write a JSON file that :func:`read_unseen_hoi_ids` reads back."""
    with open(path, "w") as f:
        json.dump({"unseen_hoi_ids": sorted(int(i) for i in unseen_hoi_ids)}, f)
