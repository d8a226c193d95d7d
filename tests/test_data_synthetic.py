"""The embedded synthetic HOI dataset: deterministic, fast, loadable, and built so that verbs are
visible only in the pixels of the pair (not in boxes or classes)."""

import hashlib
import json
import os
import time
from collections import Counter, defaultdict

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from rmlr.data import (
    SYNTHETIC_HOI_CLASSES,
    SYNTHETIC_OBJECTS,
    SYNTHETIC_VERBS,
    HOIDatasetMapper,
    ensure_synthetic_hoi,
    generate_synthetic_hoi,
    load_hico_det_json,
    register_synthetic_hoi,
    synthetic_drawing,
)
from rmlr.data.metadata import COCO_THING_CLASSES

NO_INTERACTION = SYNTHETIC_VERBS.index("no_interaction")


def _digest(root):
    h = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def default_dataset(tmp_path_factory):
    """The default size (400 train / 100 test), generated once for the module."""
    root = tmp_path_factory.mktemp("synthetic") / "synthetic_hoi"
    start = time.perf_counter()
    ensure_synthetic_hoi(str(root))
    seconds = time.perf_counter() - start
    train = load_hico_det_json(
        str(root / "instances_train.json"),
        str(root / "images" / "train"),
        verb_classes=SYNTHETIC_VERBS,
        hoi_classes=SYNTHETIC_HOI_CLASSES,
    )
    return root, train, seconds


def test_generation_is_fast_and_complete(default_dataset):
    root, train, seconds = default_dataset
    assert seconds < 20  # about 1-2 s on one core
    assert len(os.listdir(root / "images" / "train")) == 400
    assert len(os.listdir(root / "images" / "test")) == 100
    assert len(train) == 400
    with open(root / "instances_test.json") as f:
        test = json.load(f)
    assert test["objects"] == [n.replace(" ", "_") for n in COCO_THING_CLASSES]
    assert test["verbs"] == list(SYNTHETIC_VERBS) and len(test["correspondence"]) == 21
    assert 0 < len(test["empty"]) < 10


def test_generation_is_deterministic(tmp_path):
    generate_synthetic_hoi(str(tmp_path / "a"), num_train=12, num_test=6, seed=3)
    generate_synthetic_hoi(str(tmp_path / "b"), num_train=12, num_test=6, seed=3)
    generate_synthetic_hoi(str(tmp_path / "c"), num_train=12, num_test=6, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_contents(default_dataset):
    _, train, _ = default_dataset
    categories = Counter(a["category_id"] for d in train for a in d["annotations"])
    assert set(categories) == {0, *SYNTHETIC_OBJECTS}
    humans = [sum(a["category_id"] == 0 for a in d["annotations"]) for d in train]
    assert max(humans) >= 3 and np.mean(humans) > 1.5  # several humans per image
    verbs_per_pair = Counter(
        (tuple(d["annotations"][s]["bbox"]), tuple(d["annotations"][o]["bbox"]))
        for d in train
        for s, o, _ in d["interactions"]
    )
    assert max(verbs_per_pair.values()) >= 2  # several verbs per pair
    verbs = Counter(v for d in train for _, _, v in d["interactions"])
    assert set(verbs) == set(range(len(SYNTHETIC_VERBS)))
    assert verbs[NO_INTERACTION] > 50  # humans interacting with nothing
    # Every entity is in some pair, so every drawn entity is a GT box.
    for d in train:
        used = {i for s, o, _ in d["interactions"] for i in (s, o)}
        assert used == set(range(len(d["annotations"])))
    for d in train:
        for s, o, v in d["interactions"]:
            assert (d["annotations"][o]["category_id"], v) in SYNTHETIC_HOI_CLASSES


def test_boxes_are_tight_around_the_drawn_entities(default_dataset):
    import cv2

    _, train, _ = default_dataset
    for d in train[:40]:
        image = cv2.imread(d["file_name"])[:, :, ::-1].astype(int)
        background = np.median(image.reshape(-1, 3), axis=0)
        for a in d["annotations"]:
            x1, y1, x2, y2 = (int(v) for v in a["bbox"])
            crop = np.abs(image[y1:y2, x1:x2] - background).sum(2) > 40
            # Each border row / column of the box touches the entity.
            assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()


def test_verbs_are_invisible_in_box_geometry():
    # The person's box is measured on the pose-independent body: identical for every verb set.
    rng = np.random.default_rng(0)
    drawings = {}
    for verbs in [
        ("no_interaction",),
        ("hold",),
        ("carry", "look_at"),
        ("throw",),
        ("kick",),
        ("ride", "hold"),
    ]:
        for side in (-1, 1):
            canvas, body = synthetic_drawing.draw_person(rng, 24, 50, verbs, side)
            assert synthetic_drawing.pixel_extent(body) == (0, 0, 23, 49)
            assert synthetic_drawing.pixel_extent(canvas.any(axis=2)) == (0, 0, 23, 49)
            drawings[verbs, side] = canvas.any(axis=2)
    # ... while the pixels inside the box differ between verbs (the cue is there).
    for side in (-1, 1):
        masks = [m for (_, s), m in drawings.items() if s == side]
        assert all(not np.array_equal(a, b) for i, a in enumerate(masks) for b in masks[i + 1 :])


def test_layout_statistics_do_not_depend_on_the_verb(default_dataset):
    _, train, _ = default_dataset
    by_verb = defaultdict(list)
    for d in train:
        for s, o, v in d["interactions"]:
            h, b = d["annotations"][s]["bbox"], d["annotations"][o]["bbox"]
            if d["annotations"][o]["category_id"] == 32 and abs(h[0] - b[0]) < 60:  # ball units
                gap = max(b[0] - h[2], h[0] - b[2])
                by_verb[SYNTHETIC_VERBS[v]].append((h[2] - h[0], h[3] - h[1], gap))
    means = {v: np.mean(x, axis=0) for v, x in by_verb.items() if len(x) >= 15}
    assert {"hold", "kick", "throw", "look_at"} <= set(means)
    reference = np.mean(list(means.values()), axis=0)
    for verb, mean in means.items():
        assert np.all(np.abs(mean - reference) < [2.5, 4.0, 2.5]), (verb, mean, reference)


def test_rare_classes_exist(default_dataset):
    root, _, _ = default_dataset
    with open(root / "instances_train.json") as f:
        data = json.load(f)
    counts = Counter(h for ann in data["annotation"] for h in ann["hoi"])
    rare = [i for i in range(len(SYNTHETIC_HOI_CLASSES)) if counts[i] < 10]
    assert data["rare"] == rare and len(rare) == 2
    assert {SYNTHETIC_HOI_CLASSES[i] for i in rare} == {(73, 0), (1, 0)}  # book / bicycle carry


def test_registration_generates_lazily(tmp_path):
    root = tmp_path / "lazy"
    names = ("test_synthetic_train", "test_synthetic_test")
    register_synthetic_hoi(str(root), names=names, num_train=20, num_test=8)
    try:
        assert not root.exists()  # registering touched nothing
        meta = MetadataCatalog.get(names[1])
        assert meta.verb_classes == list(SYNTHETIC_VERBS) and meta.evaluator_type == "hico_det"
        assert meta.hoi_classes == list(SYNTHETIC_HOI_CLASSES)
        assert meta.valid_verbs_per_object[32] == [1, 2, 3, 4, 6]
        test = DatasetCatalog.get(names[1])
        assert root.exists() and len(test) == 8
        train = DatasetCatalog.get(names[0])
        assert 0 < len(train) <= 20 and all(d["interactions"] for d in train)
        assert isinstance(meta.rare_hoi_ids, list)
        stamp = os.path.getmtime(root / "instances_train.json")
        ensure_synthetic_hoi(str(root), num_train=20, num_test=8)  # complete: left alone
        assert os.path.getmtime(root / "instances_train.json") == stamp
        out = HOIDatasetMapper.for_dataset(names[0], is_train=True)(train[0])
        assert out["hoi_text"]["sentences"]
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
