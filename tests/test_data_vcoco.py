"""V-COCO: the real UPT-style files (``../shared/data/vcoco``, skipped when absent), and
``datasets/prepare_vcoco.py`` checked against them on the official ``vcoco_train.json``."""

import json
import os

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from script_loader import load_script

from rmlr.data import HOIDatasetMapper, load_vcoco_json, register_vcoco
from rmlr.data.metadata import VCOCO_ACTION_ROLES, VCOCO_OBJECTS_PER_ACTION_ROLE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VCOCO = os.path.join(REPO, "..", "shared", "data", "vcoco")
TEST_JSON = os.path.join(VCOCO, "instances_vcoco_test.json")
TRAIN_JSON = os.path.join(VCOCO, "instances_vcoco_train.json")
OFFICIAL_TRAIN = os.path.join(VCOCO, "vcoco_train.json")

needs_data = pytest.mark.skipif(not os.path.isfile(TEST_JSON), reason="no shared V-COCO data")


@pytest.fixture(scope="module")
def vcoco_test_dicts():
    return load_vcoco_json(TEST_JSON, "/coco/val2014")


@needs_data
def test_counts_and_conventions(vcoco_test_dicts):
    with open(TEST_JSON) as f:
        raw = json.load(f)
    assert len(vcoco_test_dicts) == 4946
    assert sum(len(d["interactions"]) for d in vcoco_test_dicts) == 12402
    assert sum(1 for d in vcoco_test_dicts if not d["interactions"]) == 414  # kept for evaluation
    assert [d["image_id"] for d in vcoco_test_dicts] == raw["images"]
    for d, ann in zip(vcoco_test_dicts, raw["annotations"]):
        assert d["file_name"] == "/coco/val2014/" + ann["file_name"]
        assert "height" not in d and "agent_only" not in d  # no sizes / agent-only in these files
        boxes = d["annotations"]
        got = [
            (boxes[s]["bbox"], boxes[o]["bbox"], v, boxes[o]["category_id"] + 1)
            for s, o, v in d["interactions"]
        ]
        # Boxes are used as stored (COCO [x, y, x + w, y + h]); pairs in file order.
        assert got == list(zip(ann["boxes_h"], ann["boxes_o"], ann["actions"], ann["objects"]))
        assert all(boxes[s]["category_id"] == 0 for s, _, _ in d["interactions"])
        keys = {(a["category_id"], tuple(a["bbox"])) for a in boxes}
        assert len(keys) == len(boxes)


@needs_data
def test_training_split_drops_images_without_pairs():
    dicts = load_vcoco_json(TRAIN_JSON, "/coco/train2014", filter_empty=True)
    assert len(dicts) == 2533 - 197 and all(d["interactions"] for d in dicts)
    assert sum(len(d["interactions"]) for d in dicts) == 6400


@needs_data
def test_registration_and_metadata():
    register_vcoco("test_vcoco_registered", TEST_JSON, "/coco/val2014")
    try:
        meta = MetadataCatalog.get("test_vcoco_registered")
        assert meta.verb_classes == list(VCOCO_ACTION_ROLES) and meta.evaluator_type == "vcoco"
        assert len(meta.thing_classes) == 80 and meta.person_category_id == 0
        assert meta.valid_verbs_per_object[32] == [0, 3, 5, 11, 12, 13, 21]  # sports ball
        assert len(DatasetCatalog.get("test_vcoco_registered")) == 4946
    finally:
        DatasetCatalog.remove("test_vcoco_registered")
        MetadataCatalog.remove("test_vcoco_registered")
    with open(TEST_JSON) as f:
        raw = json.load(f)
    assert [sorted(o - 1 for o in objs) for objs in raw["action_to_object"]] == [
        list(objs) for objs in VCOCO_OBJECTS_PER_ACTION_ROLE
    ]


def _fake_coco(vsrl):
    """A COCO instances dict holding every annotation id the official file refers to, each with a
    box inside a 640 x 480 image that encodes the id (so entities can be told apart)."""
    ann_ids = set()
    for entry in vsrl:
        ann_ids.update(entry["ann_id"])
        ann_ids.update(entry["role_object_id"])
    ann_ids.discard(0)
    images = sorted(set(vsrl[0]["image_id"]))
    return {
        "images": [
            {"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "width": 640, "height": 480}
            for i in images
        ],
        "annotations": [
            {
                "id": a,
                "bbox": [a % 500, (a // 500) % 400, 1 + a // 200000, 1],
                "category_id": 1,
                "image_id": 0,
            }
            for a in ann_ids
        ],
        "categories": [{"id": c["id"], "name": c["name"]} for c in COCO_CATEGORIES if c["isthing"]],
    }


@pytest.mark.skipif(not os.path.isfile(OFFICIAL_TRAIN), reason="no official V-COCO file")
def test_prepare_vcoco_reproduces_the_upt_style_train_file(tmp_path):
    prepare = load_script("datasets/prepare_vcoco.py")
    with open(OFFICIAL_TRAIN) as f:
        vsrl = json.load(f)
    with open(TRAIN_JSON) as f:
        reference = json.load(f)
    result = prepare.build_vcoco_annotations(vsrl, prepare.CocoIndex([_fake_coco(vsrl)]))
    assert result["images"] == reference["images"] and result["classes"] == reference["classes"]
    assert result["objects"] == reference["objects"]
    for ours, ref in zip(result["annotations"], reference["annotations"]):
        assert ours["file_name"] == ref["file_name"]
        assert ours["actions"] == ref["actions"]  # same pairs, same order
        # Same entities: box identities correspond one to one (our boxes encode COCO ann ids).
        forward, backward = {}, {}
        for a, b in zip(ours["boxes_h"] + ours["boxes_o"], ref["boxes_h"] + ref["boxes_o"]):
            assert forward.setdefault(tuple(a), tuple(b)) == tuple(b)
            assert backward.setdefault(tuple(b), tuple(a)) == tuple(a)
    agent_only = sum(len(a["agent_only_actions"]) for a in result["annotations"])
    assert agent_only > 0 and result["size"][0] == [640, 480]

    # The loader reads the extra fields: sizes, and agent-only positives as entities + verbs.
    path = tmp_path / "instances_vcoco_train.json"
    path.write_text(json.dumps(result))
    dicts = load_vcoco_json(str(path), "/coco/train2014")
    assert sum(len(d["interactions"]) for d in dicts) == 6400
    assert sum(len(d["agent_only"]) for d in dicts) == agent_only
    assert all(d["height"] == 480 and d["width"] == 640 for d in dicts)
    for d in dicts:
        for s, v in d["agent_only"]:
            assert d["annotations"][s]["category_id"] == 0 and 0 <= v < 24


def test_prepare_vcoco_on_a_hand_made_example():
    prepare = load_script("datasets/prepare_vcoco.py")
    # Two persons (ann 11, 12) in image 5; "hit" has roles instr and obj; person 12 hits with an
    # unannotated instrument. "stand" (agent only) and "point" are not action-roles.
    vsrl = [
        {
            "action_name": "hit",
            "role_name": ["agent", "instr", "obj"],
            "image_id": [5, 5],
            "ann_id": [11, 12],
            "label": [1, 1],
            "role_object_id": [11, 12, 21, 0, 22, 22],
        },
        {
            "action_name": "stand",
            "role_name": ["agent"],
            "image_id": [5, 5],
            "ann_id": [11, 12],
            "label": [1, 0],
            "role_object_id": [11, 12],
        },
    ]
    coco = prepare.CocoIndex(
        [
            {
                "images": [
                    {
                        "id": 5,
                        "file_name": "COCO_val2014_000000000005.jpg",
                        "width": 50,
                        "height": 40,
                    }
                ],
                "annotations": [
                    {"id": 11, "bbox": [0, 0, 10, 20], "category_id": 1},
                    {"id": 12, "bbox": [20, 0, 10, 20], "category_id": 1},
                    {"id": 21, "bbox": [5, 5, 2, 2], "category_id": 39},  # baseball bat
                    {"id": 22, "bbox": [30, 30, 4, 4], "category_id": 37},  # sports ball
                ],
                "categories": [
                    {"id": c["id"], "name": c["name"]} for c in COCO_CATEGORIES if c["isthing"]
                ],
            }
        ]
    )
    (ann,) = prepare.build_vcoco_annotations(vsrl, coco)["annotations"]
    hit_instr, hit_obj = VCOCO_ACTION_ROLES.index("hit instr"), VCOCO_ACTION_ROLES.index("hit obj")
    assert ann["actions"] == [hit_instr, hit_obj, hit_obj]
    assert ann["boxes_h"] == [[0, 0, 10, 20], [0, 0, 10, 20], [20, 0, 30, 20]]
    assert ann["boxes_o"] == [[5, 5, 7, 7], [30, 30, 34, 34], [30, 30, 34, 34]]
    assert ann["objects"] == [35, 33, 33]  # COCO-80 id + 1: baseball bat 34, sports ball 32
    assert ann["agent_only_boxes_h"] == [[20, 0, 30, 20]]
    assert ann["agent_only_actions"] == [hit_instr]


def test_mapper_fills_in_the_size_of_files_without_sizes(tmp_path):
    cv2.imwrite(str(tmp_path / "COCO_val2014_000000000005.jpg"), np.zeros((40, 50, 3), np.uint8))
    data = {
        "annotations": [
            {
                "boxes_h": [[0, 0, 10, 20]],
                "boxes_o": [[30, 30, 34, 34]],
                "actions": [5],
                "objects": [33],
                "file_name": "COCO_val2014_000000000005.jpg",
            }
        ],
        "classes": list(VCOCO_ACTION_ROLES),
        "objects": ["background"] + [c["name"] for c in COCO_CATEGORIES if c["isthing"]],
        "images": [5],
    }
    path = tmp_path / "instances_vcoco_test.json"
    path.write_text(json.dumps(data))
    (d,) = load_vcoco_json(str(path), str(tmp_path))
    mapper = HOIDatasetMapper(
        is_train=True,
        augmentations=[T.NoOpTransform()],
        thing_classes=[c["name"] for c in COCO_CATEGORIES if c["isthing"]],
        verb_classes=VCOCO_ACTION_ROLES,
    )
    out = mapper(d)
    assert (out["height"], out["width"]) == (40, 50)
    assert out["hoi_text"]["sentences"] == ["person hit sports ball"]
