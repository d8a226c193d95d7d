"""HICO-DET loading on the real test annotations (``../shared/data/hicodet``, skipped when absent):
counts, the dataset-dict contract, object-order detection, rare / non-rare, registration, and the
format converter (UPT <-> PPDM/CDN)."""

import json
import os
from collections import Counter

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from script_loader import load_script

from rmlr.data import (
    HICO_HOI_CLASSES,
    HICO_VERBS,
    count_hoi_instances,
    hico_det_rare_split,
    load_hico_det_json,
    register_hico_det,
)
from rmlr.data.metadata import COCO_THING_CLASSES, HICO_OBJECTS_ALPHABETICAL

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HICO = os.path.join(REPO, "..", "shared", "data", "hicodet")
TEST_JSON = os.path.join(HICO, "instances_test2015.json")
ALPHA_JSON = os.path.join(HICO, "instances_test2015_hico_objorder.json")

needs_data = pytest.mark.skipif(not os.path.isfile(TEST_JSON), reason="no shared HICO-DET data")


@pytest.fixture(scope="module")
def raw():
    with open(TEST_JSON) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def dicts():
    return load_hico_det_json(TEST_JSON, "/images/test2015")


@pytest.fixture
def registered():
    names = []

    def register(name, *args, **kwargs):
        register_hico_det(name, *args, **kwargs)
        names.append(name)
        return name

    yield register
    for name in names:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@needs_data
def test_constants_equal_the_files_lists(raw):
    assert list(HICO_VERBS) == raw["verbs"]
    assert [tuple(r[1:]) for r in raw["correspondence"]] == list(HICO_HOI_CLASSES)
    assert [n.replace(" ", "_") for n in COCO_THING_CLASSES] == raw["objects"]
    with open(ALPHA_JSON) as f:
        assert list(HICO_OBJECTS_ALPHABETICAL) == json.load(f)["objects"]


@needs_data
def test_counts(dicts, raw):
    assert len(dicts) == 9658
    assert sum(len(d["interactions"]) for d in dicts) == 33405
    assert sum(1 for d in dicts if not d["interactions"]) == len(raw["empty"]) == 112
    # Per HOI class, the GT pairs equal the file's (every class present).
    loaded = Counter(
        HICO_HOI_CLASSES.index((d["annotations"][o]["category_id"], v))
        for d in dicts
        for _, o, v in d["interactions"]
    )
    in_file = Counter(h for ann in raw["annotation"] for h in ann["hoi"])
    assert loaded == in_file and len(loaded) == 600


@needs_data
def test_dataset_dict_contract(dicts, raw):
    first = dicts[0]
    assert first["file_name"] == "/images/test2015/HICO_test2015_00000001.jpg"
    assert (first["width"], first["height"], first["image_id"]) == (640, 427, 1)
    # 1-based inclusive [320, 306, 359, 349] -> continuous [319, 305, 359, 349].
    assert raw["annotation"][0]["boxes_h"][0] == [320.0, 306.0, 359.0, 349.0]
    assert first["annotations"][0]["bbox"] == [319.0, 305.0, 359.0, 349.0]
    # Two people sit on one bench: the bench is one entity (duplicates merged).
    assert first["interactions"] == [[0, 1, 87], [2, 1, 87]]
    assert [a["category_id"] for a in first["annotations"]] == [0, 13, 0]
    ids = [d["image_id"] for d in dicts]
    assert ids == [int(name[-12:-4]) for name in raw["filenames"]] and len(set(ids)) == 9658
    for d in dicts:
        boxes = np.array([a["bbox"] for a in d["annotations"]]).reshape(-1, 4)
        assert all(a["bbox_mode"] == BoxMode.XYXY_ABS for a in d["annotations"])
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= d["width"]).all()
        assert (boxes[:, 3] <= d["height"]).all()
        keys = {(a["category_id"], tuple(a["bbox"])) for a in d["annotations"]}
        assert len(keys) == len(d["annotations"])  # one entity per distinct box
        for s, o, v in d["interactions"]:
            assert d["annotations"][s]["category_id"] == 0
            assert (d["annotations"][o]["category_id"], v) in HICO_HOI_CLASSES
        assert len({tuple(t) for t in d["interactions"]}) == len(d["interactions"])


@needs_data
def test_alphabetical_object_order_gives_the_same_dataset(dicts):
    assert load_hico_det_json(ALPHA_JSON, "/images/test2015") == dicts


@needs_data
def test_rare_split_from_the_file_and_from_training_annotations(tmp_path, raw):
    split = hico_det_rare_split(TEST_JSON)
    assert (len(split["rare_hoi_ids"]), len(split["non_rare_hoi_ids"])) == (138, 462)
    counts = count_hoi_instances(TEST_JSON)
    assert sum(counts) == 33405
    # With training annotations present they decide: here the test file plays that role.
    from_counts = hico_det_rare_split(TEST_JSON, TEST_JSON)
    assert from_counts["rare_hoi_ids"] == [i for i, c in enumerate(counts) if c < 10]
    missing = hico_det_rare_split(TEST_JSON, str(tmp_path / "absent.json"))
    assert missing == split


@needs_data
def test_registration_reads_nothing_until_used_and_metadata_follows_the_contract(registered):
    name = registered("test_hico_registered", TEST_JSON, "/images/test2015", "/absent/train.json")
    meta = MetadataCatalog.get(name)
    assert "rare_hoi_ids" not in meta.as_dict()  # computed lazily
    assert len(meta.thing_classes) == 80 and meta.thing_classes[0] == "person"
    assert meta.verb_classes == list(HICO_VERBS) and len(meta.hoi_classes) == 600
    assert meta.hoi_classes[0] == (4, 4)  # board airplane
    assert len(meta.valid_verbs_per_object) == 80 and 57 in meta.valid_verbs_per_object[4]
    assert meta.person_category_id == 0 and meta.evaluator_type == "hico_det"
    assert (meta.json_file, meta.image_root) == (TEST_JSON, "/images/test2015")
    assert (len(meta.rare_hoi_ids), len(meta.non_rare_hoi_ids)) == (138, 462)
    assert len(DatasetCatalog.get(name)) == 9658
    train = registered("test_hico_filtered", TEST_JSON, "/images", filter_empty=True)
    assert len(DatasetCatalog.get(train)) == 9658 - 112


def test_rare_split_unknown_without_training_file_or_rare_list(tmp_path, registered):
    path = tmp_path / "no_rare.json"
    path.write_text("[]")
    name = registered("test_hico_no_rare", str(path), str(tmp_path), str(tmp_path / "absent.json"))
    with pytest.raises(AttributeError, match="rare / non-rare HOI classes unknown"):
        MetadataCatalog.get(name).rare_hoi_ids


@needs_data
def test_converter_round_trips_both_formats(tmp_path, dicts):
    convert = load_script("datasets/convert_hico_det.py")
    ppdm = tmp_path / "test_hico.json"
    ppdm.write_text(json.dumps(convert.ppdm_from_dicts(dicts, "/images/test2015", with_sizes=True)))
    assert load_hico_det_json(str(ppdm), "/images/test2015") == dicts
    split = hico_det_rare_split(TEST_JSON)
    upt = tmp_path / "instances.json"
    upt.write_text(json.dumps(convert.upt_from_dicts(dicts, "/images/test2015", rare=split)))
    assert load_hico_det_json(str(upt), "/images/test2015") == dicts
    assert hico_det_rare_split(str(upt)) == split


def test_ppdm_file_without_sizes_reads_image_headers(tmp_path, caplog):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((30, 50, 3), np.uint8))
    images = [
        {
            "file_name": "a.png",
            "annotations": [
                {"bbox": [1, 1, 10, 20], "category_id": 1},
                {"bbox": [21, 5, 50, 30], "category_id": 2},  # COCO-91 2 = bicycle
                {"bbox": [1, 1, 10, 20], "category_id": 1},  # a duplicate of the person
            ],
            "hoi_annotation": [
                {"subject_id": 0, "object_id": 1, "category_id": 77, "hoi_category_id": 19},
                {"subject_id": 2, "object_id": 1, "category_id": 37},  # hold, no HOI id
                {"subject_id": 0, "object_id": 7, "category_id": 77},  # index out of range
            ],
        }
    ]
    path = tmp_path / "trainval_hico.json"
    path.write_text(json.dumps(images))
    with caplog.at_level("WARNING"):
        (d,) = load_hico_det_json(str(path), str(tmp_path))
    assert "skipped 1 hoi_annotation(s) whose subject/object index is out of range" in caplog.text
    assert "image 0 (a.png), hoi_annotation 2: (0, 7) of 3 annotations" in caplog.text
    assert (d["width"], d["height"]) == (50, 30)
    assert d["annotations"][0]["bbox"] == [0.0, 0.0, 10.0, 20.0]
    assert [a["category_id"] for a in d["annotations"]] == [0, 1]
    assert d["interactions"] == [[0, 1, 76], [0, 1, 36]]  # ride, hold bicycle
    counts = count_hoi_instances(str(path))
    assert (counts[18], counts[11], sum(counts)) == (1, 1, 2)  # ride / hold bicycle
