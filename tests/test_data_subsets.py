"""Zero-shot splits and the derived training sets (rmlr.data.zero_shot, rmlr.data.subsets)."""

import json
import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from rmlr.data import (
    HICO_HOI_CLASSES,
    HICO_VERBS,
    SYNTHETIC_HOI_CLASSES,
    SYNTHETIC_VERBS,
    hico_det_zero_shot_splits,
    read_unseen_hoi_ids,
    synthetic_zero_shot_splits,
)
from rmlr.data.subsets import LOW_DATA_PERCENTS, drop_unseen_pairs, sample_images
from rmlr.data.zero_shot import ZERO_SHOT_SPLITS_FILE

SHARED = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "..",
    "..",
    "shared",
    "data",
    "hicodet",
    "zero_shot_splits.json",
)


def test_hico_det_splits_load_with_the_published_counts():
    splits = hico_det_zero_shot_splits()
    assert {k: len(v) for k, v in splits.items()} == {
        "rf_uc": 120,
        "nf_uc": 120,
        "uo": 100,
        "uv": 84,
    }
    # UV holds out whole verbs (20 of them), UO whole objects (12): every class of those verbs /
    # objects is unseen
    uv_verbs = {HICO_HOI_CLASSES[i][1] for i in splits["uv"]}
    assert len(uv_verbs) == 20
    assert sorted(i for i, (_, v) in enumerate(HICO_HOI_CLASSES) if v in uv_verbs) == splits["uv"]
    uo_objects = {HICO_HOI_CLASSES[i][0] for i in splits["uo"]}
    assert len(uo_objects) == 12
    assert sorted(i for i, (o, _) in enumerate(HICO_HOI_CLASSES) if o in uo_objects) == splits["uo"]
    # the shipped file is the shared data file, and carries its attribution
    with open(ZERO_SHOT_SPLITS_FILE) as f:
        shipped = json.load(f)
    assert shipped["source_commit"] == "191fc74e967d6965e9ae7b3a5d423db501f38c79"
    note = ZERO_SHOT_SPLITS_FILE[: -len(".json")] + ".md"
    text = open(note).read()
    assert "github.com/YueLiao/gen-vlkt" in text and "MIT" in text
    if os.path.isfile(SHARED):
        with open(SHARED) as f:
            assert json.load(f) == shipped


def test_synthetic_settings():
    splits = synthetic_zero_shot_splits()
    names = [(o, SYNTHETIC_VERBS[v]) for o, v in SYNTHETIC_HOI_CLASSES]
    uv = splits["synthetic_uv"]
    assert [names[i][1] for i in uv] == ["inspect"] * 4
    assert all(n[1] != "inspect" for i, n in enumerate(names) if i not in uv)
    # every UC verb is seen with another object
    for i in splits["synthetic_uc"]:
        verb = names[i][1]
        assert any(n[1] == verb for j, n in enumerate(names) if j not in splits["synthetic_uc"])


def test_unseen_ids_from_a_file_and_bad_input(tmp_path):
    good = tmp_path / "mine.json"
    good.write_text(json.dumps({"unseen_hoi_ids": [3, 1, 3]}))
    assert read_unseen_hoi_ids(str(good), 27) == [1, 3]
    (tmp_path / "list.json").write_text("[0, 2]")
    assert read_unseen_hoi_ids(str(tmp_path / "list.json"), 27) == [0, 2]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"unseen_hoi_ids": [1, 27]}))
    with pytest.raises(ValueError, match="bad.json.*27"):
        read_unseen_hoi_ids(str(bad), 27)
    with pytest.raises(ValueError, match="unknown zero-shot setting 'xx'"):
        read_unseen_hoi_ids("xx", 27)
    with pytest.raises(ValueError, match="only 27 HOI classes"):
        read_unseen_hoi_ids("uv", 27)  # a HICO-DET setting on the synthetic classes


def _image(image_id, classes, interactions):
    return {
        "image_id": image_id,
        "annotations": [{"category_id": c, "bbox": [0, 0, 1, 1]} for c in classes],
        "interactions": interactions,
    }


def test_protocol_drops_whole_pairs_then_empty_images():
    hoi = [(41, 0), (41, 1), (41, 2), (73, 0)]  # cup verb 0/1/2, book verb 0
    dicts = [
        # pair (0, 1) has an unseen label (cup, 2) and a seen one: both go; pair (0, 2) stays
        _image(1, [0, 41, 73], [[0, 1, 0], [0, 1, 2], [0, 2, 0]]),
        # only an unseen pair: the image goes
        _image(2, [0, 41], [[0, 1, 2]]),
        _image(3, [0, 41], [[0, 1, 1]]),
    ]
    out = drop_unseen_pairs(dicts, hoi, [2], "toy")
    assert [d["image_id"] for d in out] == [1, 3]
    assert (
        out[0]["interactions"] == [[0, 2, 0]] and out[0]["annotations"] == dicts[0]["annotations"]
    )
    assert dicts[0]["interactions"] == [[0, 1, 0], [0, 1, 2], [0, 2, 0]]  # input untouched
    with pytest.raises(ValueError, match="toy: no training image"):
        drop_unseen_pairs(dicts[1:2], hoi, [2], "toy")


def test_low_data_sample_is_seeded_and_ordered():
    dicts = [{"image_id": i} for i in range(200)]
    a = sample_images(dicts, 5, 0)
    assert len(a) == 10 and a == sample_images(dicts, 5, 0)
    assert [d["image_id"] for d in a] == sorted(d["image_id"] for d in a)
    assert a != sample_images(dicts, 5, 1)
    assert len(sample_images(dicts, 0.1, 0)) == 1
    with pytest.raises(ValueError, match="percent"):
        sample_images(dicts, 0, 0)


def test_registered_names_and_lazy_metadata():
    names = set(DatasetCatalog.list())
    for s in ("rf_uc", "nf_uc", "uo", "uv"):
        assert f"hico_det_train_zs_{s}" in names
    for p in LOW_DATA_PERCENTS:
        assert {f"hico_det_train_{p}pct", f"synthetic_hoi_train_{p}pct"} <= names
    meta = MetadataCatalog.get("hico_det_train_zs_uv")
    assert meta.zero_shot_setting == "uv" and meta.base_dataset == "hico_det_train"
    # the split comes from the package file; no annotation file is needed for it
    assert meta.unseen_hoi_ids == hico_det_zero_shot_splits()["uv"]
    seen = meta.seen_valid_verbs_per_object
    unseen_verbs = {HICO_HOI_CLASSES[i][1] for i in meta.unseen_hoi_ids}
    assert not unseen_verbs & {v for verbs in seen for v in verbs}
    assert meta.valid_verbs_per_object != seen  # the test-time mask keeps every class
    assert len(HICO_VERBS) == 117


def test_synthetic_zero_shot_set_has_no_unseen_label():
    dicts = DatasetCatalog.get("synthetic_hoi_train_zs_uv")
    base = DatasetCatalog.get("synthetic_hoi_train")
    inspect = SYNTHETIC_VERBS.index("inspect")
    assert all(v != inspect for d in dicts for _, _, v in d["interactions"])
    assert 0.8 * len(base) < len(dicts) < len(base)
    uc = DatasetCatalog.get("synthetic_hoi_train_zs_uc")
    unseen = set(MetadataCatalog.get("synthetic_hoi_train_zs_uc").unseen_hoi_ids)
    lookup = {c: i for i, c in enumerate(SYNTHETIC_HOI_CLASSES)}
    for d in uc:
        for s, o, v in d["interactions"]:
            assert lookup[(d["annotations"][o]["category_id"], v)] not in unseen
    assert len(DatasetCatalog.get("synthetic_hoi_train_25pct")) == round(0.25 * len(base))
