"""Checked readers shared by the annotation loaders: every error names the file and the entry.

``where`` arguments are prefixes such as ``"instances_test2015.json: image 12 (name.jpg), pair 3"``.
"""

import contextlib
import json
import logging
import math
import ntpath
import os
import re
from typing import Dict, Iterator, List, Sequence, Tuple

__all__ = [
    "read_json",
    "naming_entry",
    "check_list",
    "check_file_name",
    "check_id",
    "check_one_based_id",
    "check_box",
    "check_image_size",
    "hico_box",
    "hico_keypoints",
    "image_ids_from_names",
    "finish_dicts",
]

logger = logging.getLogger(__name__)


def read_json(json_file: str):
    """``json.load`` with errors that name the file (``FileNotFoundError`` / ``ValueError``); a
    missing file points to ``datasets/README.md``, which says where each file comes from."""
    try:
        with open(json_file) as f:
            return json.load(f)
    except FileNotFoundError as e:
        root = os.environ.get("DETECTRON2_DATASETS", "datasets")
        raise FileNotFoundError(
            f"{json_file}: no such annotation file. datasets/README.md says how to get the "
            f"dataset files and where they go (under $DETECTRON2_DATASETS, now {root!r})."
        ) from e
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_file}: not a valid JSON file ({e})") from e
    except UnicodeDecodeError as e:
        raise ValueError(f"{json_file}: not a text (JSON) file ({e})") from e


@contextlib.contextmanager
def naming_entry(where: str) -> Iterator[None]:
    """Turn a ``TypeError`` / ``KeyError`` / ``AttributeError`` / ``IndexError`` /
    ``OverflowError`` raised while reading one entry (a JSON value of an unexpected type the
    explicit checks did not foresee) into a ``ValueError`` naming the file and the entry."""
    try:
        yield
    except (TypeError, KeyError, AttributeError, IndexError, OverflowError) as e:
        detail = f"missing key {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
        raise ValueError(f"{where}: malformed entry ({detail})") from e


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integral(value) -> bool:
    """An int, or a float with an integer value (no ``float()`` of huge ints: no overflow)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def check_list(value, what: str, where: str) -> list:
    """``value`` if it is a JSON list, else ``ValueError``."""
    if not isinstance(value, list):
        raise ValueError(
            f"{where}: {what} must be a list, got {type(value).__name__} {value!r:.60}"
        )
    return value


def check_file_name(value, where: str) -> str:
    """An image file name relative to the image root: a non-empty string that is not absolute and
    has no ``..`` component (it would escape the image root), else ``ValueError``."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ValueError(f"{where}: file name must be a non-empty string, got {value!r:.80}")
    parts = re.split(r"[\\/]", value)
    if os.path.isabs(value) or ntpath.isabs(value) or ntpath.splitdrive(value)[0] or ".." in parts:
        raise ValueError(
            f"{where}: file name {value!r} is absolute or contains '..': image file names must "
            "stay inside the image root"
        )
    return value


def check_id(value, upper: int, what: str, where: str) -> int:
    """An integer id in ``[0, upper)`` (integral floats accepted), else ``ValueError``."""
    if _is_integral(value) and 0 <= value < upper:
        return int(value)
    raise ValueError(f"{where}: {what} {value!r:.60} out of range [0, {upper})")


def check_one_based_id(value, num: int, what: str, where: str) -> int:
    """A 1-based id in ``[1, num]`` (PPDM-style files) as a 0-based id, else ``ValueError``."""
    if _is_integral(value) and 1 <= value <= num:
        return int(value) - 1
    raise ValueError(f"{where}: {what} {value!r:.60} out of range [1, {num}]")


def check_box(value, what: str, where: str) -> List[float]:
    """Four numbers ``[x1, y1, x2, y2]`` as floats, else ``ValueError`` (geometry is checked by
    :class:`rmlr.data.box_pairs.PairRecordBuilder`)."""
    if isinstance(value, (list, tuple)) and len(value) == 4 and all(map(_is_number, value)):
        try:
            return [float(v) for v in value]
        except OverflowError:
            pass
    raise ValueError(f"{where}: {what} must be 4 numbers [x1, y1, x2, y2], got {value!r:.80}")


def check_image_size(value, where: str) -> Tuple[int, int]:
    """``[width, height]`` of positive integers, else ``ValueError``."""
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(_is_integral(v) and 0 < v < 2**31 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"{where}: image size must be [width, height] > 0, got {value!r}")


def hico_box(value, what: str, where: str) -> List[float]:
    """HICO's 1-based inclusive pixel indices ``[X1, Y1, X2, Y2]`` -> continuous XYXY_ABS
    ``[X1 - 1, Y1 - 1, X2, Y2]``."""
    x1, y1, x2, y2 = check_box(value, what, where)
    return [x1 - 1.0, y1 - 1.0, x2, y2]


def hico_keypoints(value, num_keypoints: int, what: str, where: str) -> List[float]:
    """Flat ``[X, Y, v] * num_keypoints`` with 1-based pixel indices (the convention of the boxes)
    -> Detectron2's continuous ``[X - 0.5, Y - 0.5, v]``; ``v`` is 0 (absent: becomes
    ``[0, 0, 0]``), 1 (occluded) or 2 (visible). Else ``ValueError``."""
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 3 * num_keypoints
        and all(_is_number(v) and math.isfinite(v) for v in value)
    ):
        raise ValueError(
            f"{where}: {what} must be {3 * num_keypoints} finite numbers [x, y, v] * "
            f"{num_keypoints}, got {value!r}"
        )
    out: List[float] = []
    for k in range(num_keypoints):
        x, y, v = value[3 * k : 3 * k + 3]
        if v not in (0, 1, 2):
            raise ValueError(f"{where}: {what} keypoint {k} has visibility {v!r}, not 0, 1 or 2")
        out += [float(x) - 0.5, float(y) - 0.5, float(v)] if v else [0.0, 0.0, 0.0]
    return out


def image_ids_from_names(file_names: Sequence[str]) -> List[int]:
    """The number at the end of each file name (``HICO_test2015_00000042.jpg`` -> 42); the index
    in the list for all of them when a name has no number or two names share one."""
    ids = []
    for name in file_names:
        match = re.search(r"(\d+)\D*$", os.path.basename(name))
        if match is None:
            return list(range(len(file_names)))
        ids.append(int(match.group(1)))
    return ids if len(set(ids)) == len(ids) else list(range(len(file_names)))


def finish_dicts(dicts: List[Dict], json_file: str, filter_empty: bool) -> List[Dict]:
    """Apply ``filter_empty`` (drop images without interactions), refuse an empty dataset and log
    the counts."""
    num_pairs = sum(len(d["interactions"]) for d in dicts)
    empty = sum(1 for d in dicts if not d["interactions"])
    if filter_empty:
        dicts = [d for d in dicts if d["interactions"]]
        if empty:
            logger.info(f"{json_file}: dropped {empty} image(s) without interactions (training)")
    if not dicts:
        detail = "no image with an interaction" if filter_empty else "no image"
        raise ValueError(f"{json_file}: empty dataset ({detail})")
    kept = "" if filter_empty else f", {empty} of them without interactions (kept)"
    logger.info(f"{json_file}: {len(dicts)} images{kept}, {num_pairs} interactions")
    return dicts
