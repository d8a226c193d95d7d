"""Exports of prediction records for the official tools, so anyone can cross-check our numbers.

* HICO-DET: ``detections_XX.mat`` for the MATLAB toolkit of ywchao/ho-rcnn
  (https://github.com/ywchao/ho-rcnn/tree/master/evaluation, ``eval_one.m`` with
  ``format = 'obj'``). ``XX`` is the 1-based COCO-80 object index (``01`` = person, as the toolkit's
  ``list_coco_obj``); each file holds ``all_boxes``, a MATLAB cell array of
  (HOI classes of that object, in HICO HOI order) x (test images, in dataset order); a cell is an
  ``(n, 9)`` double matrix ``[h_x1 h_y1 h_x2 h_y2 o_x1 o_y1 o_x2 o_y2 score]`` of zero-based
  inclusive pixel boxes (``eval_one.m`` adds 1), i.e. the continuous box
  ``(x1, y1, x2 - 1, y2 - 1)``. Rows keep each image's prediction order, so MATLAB's stable sort
  breaks ties exactly as :mod:`.hico_det_ap` does. Doubles, not singles: the toolkit then computes
  in double precision, as we do. Compressed MAT v5 files; the full test set (600 x 9,658 cells)
  takes about 75 s and 45 MB with 100 predictions per image.
* V-COCO: the detections pickle of ``vsrl_eval.py`` (s-gupta/v-coco): a list with one dict per
  prediction: ``image_id`` (the dataset's; COCO image ids for V-COCO), ``person_box``
  ``[x1, y1, x2 - 1, y2 - 1]``, for every one of the 26 V-COCO actions ``<action>_agent``
  (score or NaN) and for each of its roles ``<action>_<role>``
  (``[x1, y1, x2 - 1, y2 - 1, score]``, NaN where absent). NaN entries are skipped by
  ``vsrl_eval.py``, so nothing is added to the ranking (zero-score fillers would be). An agent score
  appears once per (image, action, person box), with the highest score of those predictions,
  as :mod:`.vcoco_ap` ranks agents. ``vsrl_eval.py`` raises on an action without any detection; use
  a copy that skips those actions when cross-checking (the role APs are unaffected).
"""

import os
import pickle
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
import scipy.io

from .predictions import hoi_lookup

# The 26 V-COCO actions and their roles, in vsrl_eval's order (data/vcoco/vcoco_*.json).
VCOCO_ACTIONS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("hold", ("agent", "obj")),
    ("stand", ("agent",)),
    ("sit", ("agent", "instr")),
    ("ride", ("agent", "instr")),
    ("walk", ("agent",)),
    ("look", ("agent", "obj")),
    ("hit", ("agent", "instr", "obj")),
    ("eat", ("agent", "obj", "instr")),
    ("jump", ("agent", "instr")),
    ("lay", ("agent", "instr")),
    ("talk_on_phone", ("agent", "instr")),
    ("carry", ("agent", "obj")),
    ("throw", ("agent", "obj")),
    ("catch", ("agent", "obj")),
    ("cut", ("agent", "instr", "obj")),
    ("run", ("agent",)),
    ("work_on_computer", ("agent", "instr")),
    ("ski", ("agent", "instr")),
    ("surf", ("agent", "instr")),
    ("skateboard", ("agent", "instr")),
    ("smile", ("agent",)),
    ("drink", ("agent", "instr")),
    ("kick", ("agent", "obj")),
    ("point", ("agent", "instr")),
    ("read", ("agent", "obj")),
    ("snowboard", ("agent", "instr")),
)


def _zero_based(boxes) -> np.ndarray:
    out = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    out[:, 2:] -= 1.0
    return out


def export_hico_det_matlab(
    records: Mapping[int, Mapping[str, np.ndarray]], dataset_dicts, metadata, out_dir: str
) -> List[str]:
    """Write ``detections_XX.mat`` (one per object with HOI classes); returns the paths."""
    num_objects = len(metadata.thing_classes)
    lookup = hoi_lookup(metadata.hoi_classes, num_objects, len(metadata.verb_classes))
    num_images = len(dataset_dicts)
    cells: Dict[Tuple[int, int], np.ndarray] = {}
    for j, d in enumerate(dataset_dicts):
        r = records.get(d["image_id"])
        if r is None or len(r["scores"]) == 0:
            continue
        hoi = lookup[r["object_classes"], r["verbs"]]
        if (hoi < 0).any():
            raise ValueError(f"image_id {d['image_id']}: a prediction is not an HOI class")
        rows = np.concatenate(
            [
                _zero_based(r["subject_boxes"]),
                _zero_based(r["object_boxes"]),
                np.asarray(r["scores"], np.float64)[:, None],
            ],
            axis=1,
        )
        order = np.argsort(hoi, kind="stable")  # groups classes, keeps the prediction order
        classes, starts = np.unique(hoi[order], return_index=True)
        for c, block in zip(classes, np.split(rows[order], starts[1:])):
            cells[int(c), j] = block
    os.makedirs(out_dir, exist_ok=True)
    empty = np.zeros((0, 9), dtype=np.float64)
    paths = []
    for obj in range(num_objects):
        hois = [h for h, (o, _) in enumerate(metadata.hoi_classes) if o == obj]
        if not hois:
            continue
        all_boxes = np.empty((len(hois), num_images), dtype=object)
        for row, h in enumerate(hois):
            for j in range(num_images):
                all_boxes[row, j] = cells.get((h, j), empty)
        path = os.path.join(out_dir, f"detections_{obj + 1:02d}.mat")
        scipy.io.savemat(path, {"all_boxes": all_boxes}, do_compression=True)
        paths.append(path)
    return paths


def _vcoco_keys(verb_classes: Sequence[str]) -> List[Tuple[str, str]]:
    known = dict(VCOCO_ACTIONS)
    keys = []
    for name in verb_classes:
        action, role = name.split()
        if role not in known.get(action, ()) or role == "agent":
            raise ValueError(f"{name!r} is not a V-COCO action-role")
        keys.append((action, role))
    return keys


def vcoco_detections(
    records: Mapping[int, Mapping[str, np.ndarray]], dataset_dicts, metadata
) -> List[Dict[str, object]]:
    """The ``vsrl_eval.py`` detections list of the records (in dataset then prediction order)."""
    keys = _vcoco_keys(metadata.verb_classes)
    template: Dict[str, object] = {}
    for action, roles in VCOCO_ACTIONS:
        for role in roles:
            template[f"{action}_{role}"] = np.nan if role == "agent" else [np.nan] * 5
    dets = []
    for d in dataset_dicts:
        r = records.get(d["image_id"])
        if r is None:
            continue
        subj = _zero_based(r["subject_boxes"])
        obj = _zero_based(r["object_boxes"])
        scores = np.asarray(r["scores"], np.float64)
        # One agent detection per (action, float32 person box): the first entry, best score.
        agent_of: Dict[Tuple[str, bytes], int] = {}
        best: Dict[int, float] = {}
        image_dets = []
        for k, verb in enumerate(r["verbs"].tolist()):
            action, role = keys[verb]
            det = dict(template)
            det["image_id"] = d["image_id"]
            det["person_box"] = subj[k].tolist()
            det[f"{action}_{role}"] = obj[k].tolist() + [float(scores[k])]
            group = (action, subj[k].astype(np.float32).tobytes())
            first = agent_of.setdefault(group, k)
            best[first] = max(best.get(first, -np.inf), float(np.float32(scores[k])))
            image_dets.append(det)
        for k, score in best.items():
            action = keys[int(r["verbs"][k])][0]
            image_dets[k][f"{action}_agent"] = score
        dets.extend(image_dets)
    return dets


def export_vcoco_pickle(
    records: Mapping[int, Mapping[str, np.ndarray]], dataset_dicts, metadata, path: str
) -> str:
    """Write the ``vsrl_eval.py`` detections pickle; returns its path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(vcoco_detections(records, dataset_dicts, metadata), f, protocol=2)
    return path
