"""Stage-1 data: HOI dicts -> de-duplicated entity detection dicts, lazy registration, and box AP
through Detectron2's COCOEvaluator."""

import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator
from detectron2.structures import Boxes, BoxMode, Instances

from rmlr.data.entity_dataset import hoi_to_detection_dicts, register_entity_dataset

XYXY = BoxMode.XYXY_ABS


def _ann(box, category):
    return {"bbox": list(box), "bbox_mode": XYXY, "category_id": category}


def _hoi_dicts():
    return [
        {
            "file_name": "/data/a.jpg",
            "height": 100,
            "width": 200,
            "image_id": 7,
            "annotations": [
                _ann([10, 10, 50, 90], 0),  # person
                _ann([11, 10, 50, 90], 0),  # same person, IoU 0.975: merged into the first
                _ann([10, 10, 50, 90], 41),  # a cup at the same place: another class, kept
                _ann([10, 10, 50, 62], 0),  # IoU 0.65 with the first person: kept (< 0.7)
                _ann([100, 20, 150, 60], 41),
            ],
            "interactions": [[0, 2, 5], [1, 4, 3]],
        },
        {
            "file_name": "/data/b.jpg",
            "height": 50,
            "width": 60,
            "image_id": 8,
            "annotations": [],
            "interactions": [],
        },
    ]


def test_entities_are_deduplicated_per_class_in_annotation_order():
    a, b = hoi_to_detection_dicts(_hoi_dicts())
    assert {k: a[k] for k in ("file_name", "height", "width", "image_id")} == {
        "file_name": "/data/a.jpg",
        "height": 100,
        "width": 200,
        "image_id": 7,
    }
    assert "interactions" not in a
    assert [(x["bbox"], x["category_id"]) for x in a["annotations"]] == [
        ([10, 10, 50, 90], 0),
        ([10, 10, 50, 90], 41),
        ([10, 10, 50, 62], 0),
        ([100, 20, 150, 60], 41),
    ]
    assert all(x["bbox_mode"] == XYXY for x in a["annotations"])
    assert b["annotations"] == []
    # a looser threshold merges the 0.65-IoU person too
    loose = hoi_to_detection_dicts(_hoi_dicts(), nms_thresh=0.6)[0]["annotations"]
    assert [x["bbox"] for x in loose if x["category_id"] == 0] == [[10, 10, 50, 90]]


def test_registration_is_lazy_and_idempotent():
    hoi = "test_entity_lazy_hoi"
    name = register_entity_dataset(hoi)  # before the HOI dataset exists
    assert name == hoi + "_entities" and register_entity_dataset(hoi) == name
    meta = MetadataCatalog.get(name)
    assert meta.evaluator_type == "coco" and len(meta.thing_classes) == 80
    assert not hasattr(meta, "json_file")
    with pytest.raises(ValueError, match="already registered"):
        register_entity_dataset(hoi, nms_thresh=0.5)
    DatasetCatalog.register(hoi, _hoi_dicts)
    assert len(DatasetCatalog.get(name)[0]["annotations"]) == 4


def _predictions(record, shift=0.0):
    inst = Instances((record["height"], record["width"]))
    boxes = torch.tensor([a["bbox"] for a in record["annotations"]], dtype=torch.float32).view(
        -1, 4
    )
    inst.pred_boxes = Boxes(boxes + shift)
    inst.scores = torch.linspace(0.9, 0.5, len(boxes))
    inst.pred_classes = torch.tensor([a["category_id"] for a in record["annotations"]])
    return {"instances": inst}


def test_coco_evaluator_reports_box_ap(tmp_path):
    hoi = "test_entity_eval_hoi"
    DatasetCatalog.register(hoi, _hoi_dicts)
    MetadataCatalog.get(hoi).set(thing_classes=[f"c{i}" for i in range(80)], image_root="/data")
    name = register_entity_dataset(hoi)
    assert MetadataCatalog.get(name).thing_classes[41] == "c41"
    records = DatasetCatalog.get(name)

    def evaluate(shift):
        evaluator = COCOEvaluator(name, output_dir=str(tmp_path), distributed=False)
        evaluator.reset()
        evaluator.process(records, [_predictions(r, shift) for r in records])
        return evaluator.evaluate()["bbox"]["AP"]

    assert evaluate(0.0) == pytest.approx(100.0)
    assert evaluate(8.0) < 90.0
