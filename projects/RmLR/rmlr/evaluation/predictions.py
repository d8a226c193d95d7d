"""The HOI predictions file: reading, writing and validation.

Format (``.json`` or gzip-compressed ``.json.gz``): a JSON list with one entry per image::

    [
      {"file_name": "HICO_test2015_00000001.jpg", "image_id": 1,
       "hoi": [{"subject_box": [x1, y1, x2, y2], "object_box": [x1, y1, x2, y2],
                "object_category": 4, "verb": 17, "score": 0.93}, ...]},
      ...
    ]

* Boxes are continuous absolute coordinates of the original image (Detectron2's XYXY_ABS).
* ``object_category`` indexes the dataset's ``thing_classes`` (COCO-80 order, person = 0),
  ``verb`` its ``verb_classes`` (HICO-DET: 117 verbs; V-COCO: the 24 action-role classes).
* HICO-DET: ``(object_category, verb)`` must be one of the 600 HOI classes.
* V-COCO: ``object_box`` may be ``null`` (no role object, "empty role" of scenario 1);
  ``object_category`` is then ``null`` too (or any valid category; it is not evaluated).
* Images are identified by ``image_id``; ``file_name`` (base name) must match the dataset's when
  given. Images of the dataset without an entry have no detections. The order of ``hoi`` within an
  entry breaks ties in score.

Errors name the file, the entry (its index, image id and file name) and the offending prediction;
a missing, empty, truncated or corrupt file (gzip or JSON) is a ``ValueError`` naming the file.
"""

import gzip
import json
import math
import os
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .records import check_record_shapes, make_record, num_predictions


@dataclass(frozen=True)
class PredictionSpec:
    """What a dataset accepts: ``num_objects``, ``num_verbs`` and, for HICO-DET, ``hoi_lookup``
    (``(num_objects, num_verbs)`` int64 HOI id or -1); ``allow_no_object`` for V-COCO."""

    num_objects: int
    num_verbs: int
    hoi_lookup: Optional[np.ndarray] = None
    allow_no_object: bool = False

    @staticmethod
    def from_metadata(metadata) -> "PredictionSpec":
        num_objects, num_verbs = len(metadata.thing_classes), len(metadata.verb_classes)
        if metadata.evaluator_type == "hico_det":
            return PredictionSpec(
                num_objects, num_verbs, hoi_lookup(metadata.hoi_classes, num_objects, num_verbs)
            )
        if metadata.evaluator_type == "vcoco":
            return PredictionSpec(num_objects, num_verbs, allow_no_object=True)
        raise ValueError(f"unsupported evaluator_type {metadata.evaluator_type!r}")


def hoi_lookup(
    hoi_classes: Sequence[Sequence[int]], num_objects: int, num_verbs: int
) -> np.ndarray:
    """``(num_objects, num_verbs)`` int64 table of HOI ids from ``(object_id, verb_id)`` pairs, -1
    where the pair is not an HOI class."""
    table = np.full((num_objects, num_verbs), -1, dtype=np.int64)
    for hoi_id, (obj, verb) in enumerate(hoi_classes):
        table[obj, verb] = hoi_id
    return table


def validate_record(record: Mapping[str, np.ndarray], spec: PredictionSpec, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` and the first bad prediction of a record."""
    check_record_shapes(record, where)
    if num_predictions(record) == 0:
        return

    def fail(mask: np.ndarray, message: str):
        bad = np.flatnonzero(mask)
        if len(bad):
            raise ValueError(f"{where}: hoi[{bad[0]}]: {message}")

    subj = np.asarray(record["subject_boxes"], dtype=np.float64)
    obj = np.asarray(record["object_boxes"], dtype=np.float64)
    cls, verbs, scores = record["object_classes"], record["verbs"], record["scores"]
    no_object = np.isnan(obj).all(axis=1)
    if not spec.allow_no_object:
        fail(no_object, "object_box is null (every HICO-DET prediction needs an object box)")
    fail(~np.isfinite(np.asarray(scores, float)), "score is NaN or infinite")
    for name, boxes, check in (
        ("subject_box", subj, np.ones(len(subj), bool)),
        ("object_box", obj, ~no_object),
    ):
        fail(check & ~np.isfinite(boxes).all(axis=1), f"{name} has a non-finite coordinate")
        fail(
            check & ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])),
            f"{name} is not [x1, y1, x2, y2] with x2 >= x1 and y2 >= y1",
        )
    fail((verbs < 0) | (verbs >= spec.num_verbs), f"verb out of range [0, {spec.num_verbs})")
    cls_ok = (cls >= 0) & (cls < spec.num_objects)
    fail(
        ~cls_ok & ~(no_object & (cls == -1)),
        f"object_category out of range [0, {spec.num_objects})",
    )
    if spec.hoi_lookup is not None:
        fail(
            spec.hoi_lookup[np.where(cls_ok, cls, 0), verbs] < 0,
            "(object_category, verb) is not one of the dataset's HOI classes",
        )


def _open(path: str, mode: str):
    """Text stream of ``path``; gzip when reading gzip content or writing a ``.gz`` name."""
    if mode.startswith("r"):
        with open(path, "rb") as f:
            compressed = f.read(2) == b"\x1f\x8b"
    else:
        compressed = path.endswith(".gz")
    if compressed:
        # Level 1: 4x faster than the default 9 on a 1M-prediction file, 20 % larger.
        return gzip.open(path, mode + "t", encoding="utf-8", compresslevel=1)
    return open(path, mode, encoding="utf-8")


def load_predictions(path: str) -> List[Dict[str, Any]]:
    """Read a predictions file (``.json`` or gzip-compressed, detected from its content).

    Raises ``FileNotFoundError`` or ``ValueError`` naming ``path`` for a missing, empty,
    truncated or corrupt file (gzip or JSON) and for JSON that is not a list."""
    try:
        with _open(path, "r") as f:
            entries = json.load(f)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"predictions file {path}: no such file") from e
    except (gzip.BadGzipFile, zlib.error, EOFError) as e:
        raise ValueError(f"{path}: corrupt or truncated gzip file ({type(e).__name__}: {e})") from e
    except json.JSONDecodeError as e:
        empty = e.pos == 0 and not e.doc.strip()
        raise ValueError(
            f"{path}: " + ("empty file" if empty else f"not a valid JSON predictions file ({e})")
        ) from e
    except (UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: not a JSON text file ({type(e).__name__})") from e
    if not isinstance(entries, list):
        raise ValueError(
            f"{path}: expected a JSON list of per-image entries, got {type(entries).__name__}"
        )
    return entries


def save_predictions(entries: List[Dict[str, Any]], path: str) -> None:
    """Write entries as a JSON list, one entry per line (gzip-compressed when ``path`` ends with
    ``.gz``). Floats are written with Python's shortest exact representation: a float32 model
    output read back is the same number."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with _open(path, "w") as f:
        f.write("[\n")
        for k, entry in enumerate(entries):
            f.write((",\n" if k else "") + json.dumps(entry, separators=(",", ":")))
        f.write("\n]\n")


def _box_list(box) -> Optional[List[float]]:
    return None if math.isnan(box[0]) else box


def records_to_entries(
    records: Mapping[int, Mapping[str, np.ndarray]], dataset_dicts
) -> List[Dict[str, Any]]:
    """Predictions-file entries of the records, in dataset order (boxes and scores exact)."""
    entries = []
    for d in dataset_dicts:
        record = records.get(d["image_id"])
        if record is None:
            continue
        subj = np.asarray(record["subject_boxes"], dtype=np.float64).tolist()
        obj = np.asarray(record["object_boxes"], dtype=np.float64).tolist()
        rows = zip(
            subj,
            obj,
            record["object_classes"].tolist(),
            record["verbs"].tolist(),
            np.asarray(record["scores"], dtype=np.float64).tolist(),
        )
        hoi = [
            {
                "subject_box": s,
                "object_box": _box_list(o),
                "object_category": None if c < 0 else c,
                "verb": v,
                "score": sc,
            }
            for s, o, c, v, sc in rows
        ]
        entries.append(
            {"file_name": os.path.basename(d["file_name"]), "image_id": d["image_id"], "hoi": hoi}
        )
    return entries


def _entry_record(entry: Mapping[str, Any], where: str) -> Dict[str, np.ndarray]:
    hoi = entry.get("hoi")
    if not isinstance(hoi, list):
        raise ValueError(f"{where}: 'hoi' must be a list of predictions")
    n = len(hoi)
    subj = np.empty((n, 4), dtype=np.float64)
    obj = np.full((n, 4), np.nan, dtype=np.float64)
    cls = np.full(n, -1, dtype=np.int64)
    verbs = np.empty(n, dtype=np.int64)
    scores = np.empty(n, dtype=np.float64)
    for k, p in enumerate(hoi):
        try:
            subj[k] = _number_box(p["subject_box"])
            if p.get("object_box") is not None:
                obj[k] = _number_box(p["object_box"])
            c = p.get("object_category")
            cls[k] = -1 if c is None else _integer(c)
            verbs[k] = _integer(p["verb"])
            scores[k] = _number(p["score"])
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            raise ValueError(f"{where}: hoi[{k}]: {detail}") from None
    return make_record(subj, obj, cls, verbs, scores)


def _number(x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{x!r:.40} is not a number")
    try:
        return float(x)
    except OverflowError:
        raise ValueError(f"{x!r:.40} is too large") from None


def _integer(x) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        raise ValueError(f"{x!r:.40} is not an integer")
    if not -(2**63) <= x < 2**63:
        raise ValueError(f"{x!r:.40} is out of the int64 range")
    return x


def _number_box(box) -> List[float]:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f"box {box!r} is not a list of 4 numbers [x1, y1, x2, y2]")
    return [_number(v) for v in box]


def entries_to_records(
    entries: Sequence[Mapping[str, Any]], dataset_dicts, spec: PredictionSpec, source: str = ""
):
    """Validate predictions-file entries against a dataset and convert them to records.

    Args:
        source: the predictions file, named in errors.

    Returns:
        dict image_id -> record, in dataset order.

    Raises:
        ValueError: naming the file and the entry, for an ``image_id`` that is not an integer, a
            ``file_name`` that is not a string, an unknown image, a duplicate entry or a bad
            prediction.
    """
    by_id = {d["image_id"]: d for d in dataset_dicts}
    by_name = {os.path.basename(d["file_name"]): d for d in dataset_dicts}
    records: Dict[int, Dict[str, np.ndarray]] = {}
    prefix = f"{source}: " if source else ""
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"{prefix}entry {i}: expected an object with file_name, image_id and hoi"
            )
        image_id, file_name = entry.get("image_id"), entry.get("file_name")
        where = f"{prefix}entry {i} (image_id {image_id!r:.40}, file_name {file_name!r:.80})"
        if image_id is not None and (isinstance(image_id, bool) or not isinstance(image_id, int)):
            raise ValueError(f"{where}: image_id must be an integer")
        if file_name is not None and not isinstance(file_name, str):
            raise ValueError(f"{where}: file_name must be a string")
        if image_id is None and file_name is None:
            raise ValueError(f"{where}: needs an image_id or a file_name")
        d = (
            by_id.get(image_id)
            if image_id is not None
            else by_name.get(os.path.basename(file_name))
        )
        if d is None:
            raise ValueError(f"{where}: unknown image (not in the dataset)")
        if file_name is not None and os.path.basename(file_name) != os.path.basename(
            d["file_name"]
        ):
            raise ValueError(
                f"{where}: file_name does not match the dataset's "
                f"{os.path.basename(d['file_name'])!r}"
            )
        if d["image_id"] in records:
            raise ValueError(f"{where}: a second entry for the same image")
        record = _entry_record(entry, where)
        validate_record(record, spec, where)
        records[d["image_id"]] = record
    return {
        d["image_id"]: records[d["image_id"]] for d in dataset_dicts if d["image_id"] in records
    }
