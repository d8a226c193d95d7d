"""An embedded synthetic HOI dataset: generated in seconds, learnable on a CPU in minutes.

``synthetic_hoi_train`` / ``synthetic_hoi_test`` let the whole pipeline (stage-1 DETR, RmLR, the
HICO-DET evaluator) run without downloading anything. The generator is deterministic (each image
depends only on the seed, the split and its index) and writes, under ``root``
(default ``$DETECTRON2_DATASETS/synthetic_hoi``, ``DETECTRON2_DATASETS`` defaulting to
``datasets``):

* ``images/{train,test}/synthetic_<split>_<index>.png`` (144-176 x 128-144 pixels);
* ``instances_{train,test}.json`` in the UPT-style HICO-DET format (``filenames``, ``size``,
  ``annotation`` with 1-based inclusive boxes and the humans' keypoints ``keypoints_h``,
  ``objects`` = the 80 COCO names in COCO-80 order, ``verbs``, ``correspondence``, ``empty``,
  ``rare`` / ``non_rare``), read by the HICO-DET loader.

Default size: 400 training and 100 test images (a few seconds on one core). Version 2 of the
generator (version 1: seven verbs with thin limb cues, no keypoints); a folder written by another
version is regenerated.

Contents (and why):

* **Entities easy to detect**: persons (blue torso, skin-coloured head, a dark pedestal across the
  full box width so the box is well defined) and five object categories with real COCO-80 ids,
  each a distinct shape and colour: ``bicycle`` (green frame, black wheels), ``sports ball``
  (orange disc), ``kite`` (red diamond), ``cup`` (teal trapezoid), ``book`` (purple block). Entities
  never overlap; a tiny DETR learns them quickly.
* **Several humans and objects per image**: 1-3 "units" of a person next to an object (object left
  or right, 2-9 px apart, vertically within the person's extent), sometimes a bystander person
  without an object of their own; a few images without any entity (listed in ``empty``).
* **Verbs whose names carry visual meaning**: ``carry``, ``hold``, ``inspect``, ``kick``,
  ``look_at``, ``ride``, ``throw`` and ``no_interaction`` (27 HOI classes; valid verbs per object
  as in HICO-DET, e.g. only a ball is kicked or thrown, only a bicycle is ridden). Each verb is a
  composition of visual cues (:data:`SYNTHETIC_VERB_CUES`, drawn by :mod:`.synthetic_drawing`)
  shared the way the language teacher relates the names: ``hold`` / ``carry`` / ``throw`` stretch
  the arm facing the object (at shoulder / hip / overhead height), ``hold`` / ``carry`` put a hand
  on it, ``throw`` / ``kick`` launch it (motion streaks), ``look_at`` / ``inspect`` gaze at it,
  ``inspect`` = the cues of ``hold`` + ``look_at``, ``ride`` = seated legs + the cues of
  ``hold``. ``datasets/README.md`` gives the teacher's similarity matrix and how the two agree
  (``datasets/synthetic_verb_semantics.py``).
* **Labels follow the pixels**: a pair is annotated with every valid verb whose cues it shows, once
  per verb as HICO-DET does (an ``inspect`` pair is also ``hold`` and ``look_at``), so several
  verbs per pair occur (``ride`` + ``hold``, ``kick`` + ``look_at``, ``carry`` + ``look_at``, ...);
  **persons interacting with nothing** stand neutral and are annotated with ``no_interaction`` (a
  unit's person, or a bystander paired with the nearest object), so every drawn entity is in at
  least one pair and is a GT box.
* **Verbs visible only in the pixels of the pair**: a unit's layout (box sizes, side, gap, vertical
  offset) is drawn *before* and independently of its verbs, so boxes and classes cannot tell the
  verbs of an object class apart; the cues are drawn inside the two boxes, thick enough to survive
  the tiny DETR's stride-16 map.
* **Rare classes with frequent relatives**: ``book carry``, ``bicycle carry`` and ``kite
  inspect`` appear in only 6 training images each (fewer than 10 instances = rare, as HICO-DET
  defines it), while their cues are frequent in other classes (``cup carry``, ``book hold``,
  ``kite look_at``, ``cup inspect``, ...), so Full / Rare / Non-rare all exist and language has
  something to transfer.
* **Exact keypoints**: every person is a stick figure facing the viewer whose 17 COCO keypoints
  are known (``keypoints`` of the person annotations in Detectron2's format, metadata
  :data:`SYNTHETIC_KEYPOINT_METADATA`); they move with the verbs exactly as the pixels do.

Registration (:func:`register_synthetic_hoi`, done by ``import rmlr``) never touches the disk; the
files are generated on first ``DatasetCatalog.get`` (or first access to ``rare_hoi_ids``), by
:func:`generate_synthetic_hoi`, or with ``python -m rmlr.data.synthetic``. Concurrent processes
generate into private temporary folders and the first rename wins (the content is identical).
"""

import argparse
import json
import logging
import os
import shutil
import time
import uuid
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.data.datasets.builtin_meta import (
    COCO_PERSON_KEYPOINT_FLIP_MAP,
    KEYPOINT_CONNECTION_RULES,
)

from .hico_det import register_hico_det
from .metadata import COCO_THING_CLASSES, rare_split
from .synthetic_drawing import (
    ARM,
    ARM_LOWER,
    ARM_RAISE,
    ARM_REACH,
    BICYCLE,
    BOOK,
    COCO_KEYPOINT_NAMES,
    CUP,
    GAZE,
    HAND,
    KITE,
    LAUNCH,
    LEG_OUT,
    SEATED,
    SPORTS_BALL,
    draw_object,
    draw_object_cues,
    draw_person,
    pixel_extent,
)

__all__ = [
    "SYNTHETIC_OBJECTS",
    "SYNTHETIC_VERBS",
    "SYNTHETIC_HOI_CLASSES",
    "SYNTHETIC_VERB_CUES",
    "SYNTHETIC_KEYPOINT_METADATA",
    "default_synthetic_root",
    "generate_synthetic_hoi",
    "ensure_synthetic_hoi",
    "register_synthetic_hoi",
]

logger = logging.getLogger(__name__)

_VERSION = 2
#: COCO-80 ids of the synthetic object categories.
SYNTHETIC_OBJECTS: Tuple[int, ...] = (BICYCLE, SPORTS_BALL, KITE, CUP, BOOK)
#: Verb classes (HICO-style names; index = verb id).
SYNTHETIC_VERBS: Tuple[str, ...] = (
    "carry",
    "hold",
    "inspect",
    "kick",
    "look_at",
    "no_interaction",
    "ride",
    "throw",
)
_V = {name: i for i, name in enumerate(SYNTHETIC_VERBS)}

#: The visual cues (:mod:`.synthetic_drawing`) each verb shows; a pair shows the union of its
#: verbs' cues, and is annotated with every valid verb whose cues it shows (``inspect`` = the cues
#: of ``hold`` and ``look_at``, ``ride`` = seated legs and the cues of ``hold``).
SYNTHETIC_VERB_CUES: Dict[str, Tuple[str, ...]] = {
    "carry": (ARM, ARM_LOWER, HAND),
    "hold": (ARM, ARM_REACH, HAND),
    "inspect": (GAZE, ARM, ARM_REACH, HAND),
    "kick": (LEG_OUT, LAUNCH),
    "look_at": (GAZE,),
    "no_interaction": (),
    "ride": (SEATED, ARM, ARM_REACH, HAND),
    "throw": (ARM, ARM_RAISE, LAUNCH),
}

# Verb sets a person can show towards each object (at most one pose per limb: arm, leg, gaze).
_VERB_SETS: Dict[int, Tuple[Tuple[str, ...], ...]] = {
    BICYCLE: (
        ("ride", "hold"),
        ("hold",),
        ("look_at",),
        ("inspect", "hold", "look_at"),
        ("carry",),
        ("carry", "look_at"),
    ),
    SPORTS_BALL: (
        ("hold",),
        ("carry",),
        ("throw",),
        ("kick",),
        ("look_at",),
        ("inspect", "hold", "look_at"),
        ("throw", "look_at"),
        ("kick", "look_at"),
    ),
    KITE: (
        ("hold",),
        ("look_at",),
        ("inspect", "hold", "look_at"),
        ("carry",),
        ("carry", "look_at"),
    ),
    CUP: (
        ("hold",),
        ("carry",),
        ("look_at",),
        ("inspect", "hold", "look_at"),
        ("carry", "look_at"),
    ),
    BOOK: (("hold",), ("look_at",), ("carry",), ("carry", "look_at")),
}
# (object, verb) classes kept rare: drawn only in the designated images below.
_RARE = ((BOOK, "carry"), (BICYCLE, "carry"), (KITE, "inspect"))
_RARE_EVERY = {"train": 70, "test": 35}  # one image in this many shows each rare class

#: HOI classes ``(object_id, verb_id)``: per object (COCO-80 order) its verbs alphabetically,
#: then ``no_interaction`` (HICO-DET's layout).
SYNTHETIC_HOI_CLASSES: Tuple[Tuple[int, int], ...] = tuple(
    (obj, _V[verb])
    for obj in sorted(SYNTHETIC_OBJECTS)
    for verb in sorted({v for s in _VERB_SETS[obj] for v in s}) + ["no_interaction"]
)

#: Keypoint metadata of the synthetic datasets (Detectron2's COCO person keypoints: names, flip
#: map for horizontal flips, connection rules for the ``Visualizer``).
SYNTHETIC_KEYPOINT_METADATA: Dict[str, list] = {
    "keypoint_names": list(COCO_KEYPOINT_NAMES),
    "keypoint_flip_map": list(COCO_PERSON_KEYPOINT_FLIP_MAP),
    "keypoint_connection_rules": list(KEYPOINT_CONNECTION_RULES),
}

_SPLIT_CODE = {"train": 0, "test": 1}
_WIDTHS, _HEIGHTS = (144, 160, 176), (128, 144)


def default_synthetic_root() -> str:
    """``$DETECTRON2_DATASETS/synthetic_hoi`` (``DETECTRON2_DATASETS`` defaults to ``datasets``)."""
    base = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    return os.path.abspath(os.path.join(base, "synthetic_hoi"))


# --------------------------------------------------------------------------------------------
# Layout.


def _object_size(rng, category: int) -> Tuple[int, int]:
    if category == SPORTS_BALL:
        s = int(rng.integers(12, 19))
        return s, s
    low_high = {
        CUP: ((10, 15), (13, 19)),
        BICYCLE: ((28, 37), (18, 25)),
        KITE: ((15, 22), (18, 25)),
        BOOK: ((15, 21), (10, 15)),
    }[category]
    return int(rng.integers(*low_high[0])), int(rng.integers(*low_high[1]))


def _overlaps(rect, rects, pad: int = 3) -> bool:
    x1, y1, x2, y2 = rect
    return any(
        x1 - pad <= b[2] and b[0] - pad <= x2 and y1 - pad <= b[3] and b[1] - pad <= y2
        for b in rects
    )


def _place(rng, w: int, h: int, width: int, height: int, rects, tries: int = 30):
    """Top-left corner of a free ``w x h`` rectangle, or ``None``."""
    for _ in range(tries):
        if width - w - 2 < 2 or height - h - 2 < 2:
            return None
        x, y = int(rng.integers(2, width - w - 1)), int(rng.integers(2, height - h - 1))
        if not _overlaps((x, y, x + w - 1, y + h - 1), rects):
            return x, y
    return None


def _cues(verbs: Sequence[str]) -> Tuple[str, ...]:
    """The visual cues of a verb set (the union of its verbs' cues, in a fixed order)."""
    return tuple(sorted({c for v in verbs for c in SYNTHETIC_VERB_CUES[v]}))


def _person_box_and_keypoints(body, keypoints, x: int, y: int):
    """Box (0-based inclusive) and image-frame keypoint pixels of a person drawn at ``(x, y)``."""
    bx1, by1, bx2, by2 = pixel_extent(body)
    return (x + bx1, y + by1, x + bx2, y + by2), keypoints + np.array([x, y])


def _render_image(seed: int, split: str, index: int, rare_slot: Optional[Tuple[int, str]]):
    """One image and its GT pairs ``(human box, object box, object, verb, human keypoints)``
    (boxes 0-based inclusive, keypoints ``(17, 2)`` pixel indices)."""
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], index])
    width, height = int(rng.choice(_WIDTHS)), int(rng.choice(_HEIGHTS))
    image = np.empty((height, width, 3), np.float32)
    image[:] = rng.integers(185, 236, size=3)
    image += rng.normal(0.0, 4.0, size=image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if index % 47 == 17 and rare_slot is None:  # a few images without any entity
        return image, []

    rects: List[Tuple[int, int, int, int]] = []
    pairs = []
    objects = []  # (box, category)
    for unit in range(int(rng.integers(1, 4))):
        category = int(rng.choice(SYNTHETIC_OBJECTS))
        if unit == 0 and rare_slot is not None:
            category = rare_slot[0]
        hw, hh = int(rng.integers(20, 29)), int(rng.integers(44, 59))
        ow, oh = _object_size(rng, category)
        side = 1 if rng.random() < 0.5 else -1  # object right (+1) or left (-1) of the person
        gap = int(rng.integers(2, 10))
        oy = int(rng.integers(0, hh - oh + 1))  # object top, relative to the person's top
        uw = hw + gap + ow
        corner = _place(rng, uw, hh, width, height, rects)
        # Verbs are drawn after the layout, independently of it.
        if unit == 0 and rare_slot is not None:
            choices = [s for s in _VERB_SETS[category] if rare_slot[1] in s]
            verbs: Tuple[str, ...] = choices[int(rng.integers(len(choices)))]
        elif rng.random() < 0.75:
            choices = [
                s for s in _VERB_SETS[category] if not any((category, v) in _RARE for v in s)
            ]
            verbs = choices[int(rng.integers(len(choices)))]
        else:
            verbs = ("no_interaction",)
        if corner is None:
            continue
        x, y = corner
        hx = x if side > 0 else x + ow + gap
        ox = x + hw + gap if side > 0 else x
        person, body, keypoints = draw_person(rng, hw, hh, _cues(verbs), side)
        thing = draw_object(rng, category, ow, oh)
        shape = thing.any(axis=2)
        draw_object_cues(thing, _cues(verbs), side)
        for canvas, mask, (px, py) in (
            (person, person.any(axis=2), (hx, y)),
            (thing, thing.any(axis=2), (ox, y + oy)),
        ):
            region = image[py : py + canvas.shape[0], px : px + canvas.shape[1]]
            region[mask] = canvas[mask]
        box_h, keypoints = _person_box_and_keypoints(body, keypoints, hx, y)
        sx1, sy1, sx2, sy2 = pixel_extent(shape)
        box_o = (ox + sx1, y + oy + sy1, ox + sx2, y + oy + sy2)
        rects.append((x, y, x + uw - 1, y + hh - 1))
        objects.append((box_o, category))
        for verb in verbs:
            pairs.append((box_h, box_o, category, verb, keypoints))

    if objects and rng.random() < 0.3:  # a bystander: no object of their own
        hw, hh = int(rng.integers(20, 29)), int(rng.integers(44, 59))
        corner = _place(rng, hw, hh, width, height, rects)
        if corner is not None:
            x, y = corner
            person, body, keypoints = draw_person(rng, hw, hh, (), 1)
            region = image[y : y + hh, x : x + hw]
            region[person.any(axis=2)] = person[person.any(axis=2)]
            box_h, keypoints = _person_box_and_keypoints(body, keypoints, x, y)
            centre = np.array([x + hw / 2, y + hh / 2])
            nearest = min(
                objects,
                key=lambda o: np.linalg.norm(
                    np.array([o[0][0] + o[0][2], o[0][1] + o[0][3]]) / 2 - centre
                ),
            )
            pairs.append((box_h, nearest[0], nearest[1], "no_interaction", keypoints))
    return image, pairs


# --------------------------------------------------------------------------------------------
# Files.


def _rare_slots(split: str, num_images: int) -> Dict[int, Tuple[int, str]]:
    """Designated images of the rare classes: ``index -> (object, verb)``."""
    every = _RARE_EVERY[split]
    slots = {}
    for k, rare in enumerate(_RARE):
        for index in range(5 + 13 * k, num_images, every):
            slots[index] = rare
    return slots


def _write_split(
    root: str, split: str, num_images: int, seed: int, on_image: Optional[Callable[[], None]]
) -> Dict:
    folder = os.path.join(root, "images", split)
    os.makedirs(folder, exist_ok=True)
    hoi_index = {(obj, SYNTHETIC_VERBS[v]): i for i, (obj, v) in enumerate(SYNTHETIC_HOI_CLASSES)}
    slots = _rare_slots(split, num_images)
    file_names, sizes, annotation, empty = [], [], [], []
    for index in range(num_images):
        image, pairs = _render_image(seed, split, index, slots.get(index))
        name = f"synthetic_{split}_{index:06d}.png"
        cv2.imwrite(os.path.join(folder, name), image[:, :, ::-1])
        file_names.append(name)
        sizes.append([image.shape[1], image.shape[0]])
        ann = {"boxes_h": [], "boxes_o": [], "hoi": [], "object": [], "verb": [], "keypoints_h": []}
        for box_h, box_o, category, verb, keypoints in pairs:
            ann["boxes_h"].append([v + 1 for v in box_h])  # 1-based inclusive, as HICO-DET
            ann["boxes_o"].append([v + 1 for v in box_o])
            # 1-based pixel indices as the boxes, all visible: [x, y, 2] * 17
            ann["keypoints_h"].append([int(c) for x, y in keypoints + 1 for c in (x, y, 2)])
            ann["hoi"].append(hoi_index[(category, verb)])
            ann["object"].append(category)
            ann["verb"].append(_V[verb])
        if not pairs:
            empty.append(index)
        annotation.append(ann)
        if on_image is not None:
            on_image()
    return {"filenames": file_names, "size": sizes, "annotation": annotation, "empty": empty}


def _generator_info(num_train: int, num_test: int, seed: int) -> Dict:
    return {
        "name": "rmlr.data.synthetic",
        "version": _VERSION,
        "seed": seed,
        "num_train": num_train,
        "num_test": num_test,
    }


def generate_synthetic_hoi(
    root: Optional[str] = None,
    *,
    num_train: int = 400,
    num_test: int = 100,
    seed: int = 0,
    on_image: Optional[Callable[[], None]] = None,
) -> Dict:
    """Write the dataset into ``root`` (module docstring), replacing what is there;
    ``on_image()`` is called after each image (progress).

    Returns:
        Counts: ``{"train": {"images", "pairs", "empty"}, "test": {...}, "seconds"}``.
    """
    root = os.path.abspath(root or default_synthetic_root())
    start = time.perf_counter()
    splits = {
        "train": _write_split(root, "train", num_train, seed, on_image),
        "test": _write_split(root, "test", num_test, seed, on_image),
    }
    counts = Counter(h for ann in splits["train"]["annotation"] for h in ann["hoi"])
    rare = rare_split([counts[i] for i in range(len(SYNTHETIC_HOI_CLASSES))])
    header = {
        "objects": [name.replace(" ", "_") for name in COCO_THING_CLASSES],
        "verbs": list(SYNTHETIC_VERBS),
        "correspondence": [[i, obj, v] for i, (obj, v) in enumerate(SYNTHETIC_HOI_CLASSES)],
        "rare": rare["rare_hoi_ids"],
        "non_rare": rare["non_rare_hoi_ids"],
        "generator": _generator_info(num_train, num_test, seed),
    }
    summary = {}
    for split, content in splits.items():
        with open(os.path.join(root, f"instances_{split}.json"), "w") as f:
            json.dump({**content, **header}, f)
        summary[split] = {
            "images": len(content["filenames"]),
            "pairs": sum(len(a["hoi"]) for a in content["annotation"]),
            "empty": len(content["empty"]),
        }
    summary["seconds"] = time.perf_counter() - start
    return summary


def _is_complete(root: str, info: Dict) -> bool:
    for split, count in (("train", info["num_train"]), ("test", info["num_test"])):
        path = os.path.join(root, f"instances_{split}.json")
        folder = os.path.join(root, "images", split)
        if not (os.path.isfile(path) and os.path.isdir(folder)):
            return False
        try:
            with open(path) as f:
                if json.load(f).get("generator") != info:
                    return False
        except (OSError, ValueError):
            return False
        if len(os.listdir(folder)) != count:
            return False
    return True


def ensure_synthetic_hoi(
    root: Optional[str] = None, *, num_train: int = 400, num_test: int = 100, seed: int = 0
) -> str:
    """Generate the dataset into ``root`` unless a complete copy with these settings is there.

    Generation goes to a private temporary folder renamed into place, so concurrent processes
    (e.g. data-parallel ranks) never see half-written files. Returns ``root``.
    """
    root = os.path.abspath(root or default_synthetic_root())
    info = _generator_info(num_train, num_test, seed)
    if _is_complete(root, info):
        return root
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(root)}.tmp-{os.getpid()}-{uuid.uuid4().hex}")
    summary = generate_synthetic_hoi(tmp, num_train=num_train, num_test=num_test, seed=seed)
    if os.path.exists(root) and not _is_complete(root, info):
        stale = f"{tmp}.stale"
        try:
            os.rename(root, stale)
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:  # another process replaced it meanwhile
            pass
    try:
        os.rename(tmp, root)
        logger.info(
            f"generated the synthetic HOI dataset in {root}: {summary['train']['images']} train / "
            f"{summary['test']['images']} test images in {summary['seconds']:.1f} s"
        )
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not _is_complete(root, info):
            raise
    return root


def register_synthetic_hoi(
    root: Optional[str] = None,
    *,
    names: Tuple[str, str] = ("synthetic_hoi_train", "synthetic_hoi_test"),
    num_train: int = 400,
    num_test: int = 100,
    seed: int = 0,
) -> None:
    """Register the train / test splits under ``names`` (files generated lazily, see module)."""
    root = os.path.abspath(root or default_synthetic_root())

    def prepare() -> None:
        ensure_synthetic_hoi(root, num_train=num_train, num_test=num_test, seed=seed)

    train_json = os.path.join(root, "instances_train.json")
    for name, split in zip(names, ("train", "test")):
        register_hico_det(
            name,
            os.path.join(root, f"instances_{split}.json"),
            os.path.join(root, "images", split),
            train_json_file=train_json,
            filter_empty=split == "train",
            verb_classes=SYNTHETIC_VERBS,
            hoi_classes=SYNTHETIC_HOI_CLASSES,
            prepare=prepare,
        )
        MetadataCatalog.get(name).set(**SYNTHETIC_KEYPOINT_METADATA)


def get_parser() -> argparse.ArgumentParser:
    """The command line (``datasets/prepare_synthetic.py``, ``python -m rmlr.data.synthetic``)."""
    from ..utils.cli import positive_int

    parser = argparse.ArgumentParser(
        prog="prepare_synthetic.py",
        description="Generate the embedded synthetic HOI dataset (deterministic; about 2 s for "
        "the default 500 images). Registration generates it on first use anyway; run this to "
        "inspect it or to write it elsewhere.",
    )
    parser.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="output folder (default: $DETECTRON2_DATASETS/synthetic_hoi, here "
        f"{default_synthetic_root()}); its content is replaced",
    )
    parser.add_argument(
        "--num-train",
        type=positive_int,
        default=400,
        metavar="N",
        help="training images (default: %(default)s)",
    )
    parser.add_argument(
        "--num-test",
        type=positive_int,
        default=100,
        metavar="N",
        help="test images (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: %(default)s)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> None:
    from ..utils.progress import Progress

    args = get_parser().parse_args(argv)
    root = os.path.abspath(args.root or default_synthetic_root())
    progress = Progress(args.num_train + args.num_test, "synthetic dataset", unit="images")
    summary = generate_synthetic_hoi(
        root,
        num_train=args.num_train,
        num_test=args.num_test,
        seed=args.seed,
        on_image=progress.update,
    )
    print(f"{root}: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
