"""A user's own HOI dataset, done as the README's "Your own dataset" says (its two code blocks are
read from the README and run): a UPT-style annotation file with its own verbs and HOI table, the
module that registers it, the config; then the verb-count check, the mapper's annotation text, a
training step of the tiny RmLR and the HICO-DET evaluator on the dataset's own HOI classes."""

import json
import os
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog

import rmlr  # noqa: F401  (registers the built-in datasets)
from rmlr.data import COCO_THING_CLASSES
from rmlr.engine import check_dataset_classes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
CUP, CHAIR = COCO_THING_CLASSES.index("cup"), COCO_THING_CLASSES.index("chair")


def readme_block(first_line):
    """The README's ```python block that starts with ``first_line``."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    start = text.index("```python\n" + first_line) + len("```python\n")
    return text[start : text.index("```", start)]


OVERRIDES = [
    "dataloader.train.dataset.names=my_hoi_train",
    "dataloader.test.dataset.names=my_hoi_test",
    "model.num_verbs=3",
    "model.valid_verbs_per_object.dataset_name=my_hoi_train",
]


def write_split(root, split, num_images, rng):
    """Images with one person and one cup or chair; boxes written in HICO's 1-based inclusive
    pixels ([x1 + 1, y1 + 1, x2, y2] of a continuous box)."""
    os.makedirs(os.path.join(root, "images", split), exist_ok=True)
    correspondence = [[0, CUP, 0], [1, CUP, 2], [2, CHAIR, 1], [3, CHAIR, 2]]
    files, sizes, annotation = [], [], []
    for i in range(num_images):
        name = f"{split}_{i:03d}.png"
        image = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(os.path.join(root, "images", split, name), image)
        hoi = int(rng.integers(0, 4))
        _, obj, verb = correspondence[hoi]
        human = [10.0, 20.0, 40.0, 90.0]
        thing = [60.0, 50.0, 90.0 + i % 5, 80.0]
        annotation.append(
            {
                "boxes_h": [[human[0] + 1, human[1] + 1, human[2], human[3]]],
                "boxes_o": [[thing[0] + 1, thing[1] + 1, thing[2], thing[3]]],
                "hoi": [hoi],
                "object": [obj],
                "verb": [verb],
            }
        )
        files.append(name)
        sizes.append([128, 96])  # [width, height]
    data = {
        "filenames": files,
        "size": sizes,
        "annotation": annotation,
        "objects": list(COCO_THING_CLASSES),
        "verbs": ["wave at", "sit on", "no interaction"],
        "correspondence": correspondence,
    }
    with open(os.path.join(root, f"instances_{split}.json"), "w") as f:
        json.dump(data, f)


@pytest.fixture(scope="module")
def my_hoi(tmp_path_factory):
    root = tmp_path_factory.mktemp("my_hoi")
    rng = np.random.default_rng(0)
    write_split(str(root), "train", 6, rng)
    write_split(str(root), "test", 3, rng)
    package = tmp_path_factory.mktemp("user_code")
    module = readme_block("# my_hoi.py")
    assert 'ROOT = "/data/my_hoi"' in module
    (package / "my_hoi.py").write_text(module.replace("/data/my_hoi", str(root)))
    sys.path.insert(0, str(package))
    try:
        import my_hoi  # noqa: F401  (registers my_hoi_train / my_hoi_test)

        yield my_hoi
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("my_hoi", None)
        for name in ("my_hoi_train", "my_hoi_test"):
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_registration_and_loading(my_hoi):
    dicts = DatasetCatalog.get("my_hoi_test")
    assert len(dicts) == 3 and len(DatasetCatalog.get("my_hoi_train")) == 6
    # the 1-based inclusive file boxes come back continuous
    human = next(a for a in dicts[0]["annotations"] if a["category_id"] == 0)
    assert human["bbox"] == [10.0, 20.0, 40.0, 90.0]
    meta = MetadataCatalog.get("my_hoi_train")
    assert meta.verb_classes == my_hoi.VERBS and len(meta.hoi_classes) == 4
    assert meta.valid_verbs_per_object[CUP] == [0, 2] and meta.valid_verbs_per_object[CHAIR] == [
        1,
        2,
    ]


def test_readme_config_loads_with_these_overrides(my_hoi, tmp_path):
    """The README's config, saved next to a copy of our configs (it imports them relatively)."""
    configs = tmp_path / "configs"
    shutil.copytree(os.path.join(REPO, "projects", "RmLR", "configs"), configs)
    text = readme_block("# projects/RmLR/configs/rmlr/rmlr_r50_my_hoi.py")
    (configs / "rmlr" / "rmlr_r50_my_hoi.py").write_text(text)
    cfg = LazyConfig.load(str(configs / "rmlr" / "rmlr_r50_my_hoi.py"))
    for override in OVERRIDES:
        key, value = override.split("=")
        node = cfg
        for part in key.split("."):
            node = node[part]
        assert str(node) == value, override
    check_dataset_classes(cfg)


def test_verb_count_is_checked(my_hoi):
    partial = LazyConfig.apply_overrides(LazyConfig.load(TINY), OVERRIDES[:1])
    with pytest.raises(ValueError, match=r"model.num_verbs=8 .* 'my_hoi_train', which has 3"):
        check_dataset_classes(partial)
    check_dataset_classes(LazyConfig.apply_overrides(LazyConfig.load(TINY), OVERRIDES))


def test_training_step_and_evaluation(my_hoi, tmp_path):
    pytest.importorskip("transformers")
    cfg = LazyConfig.apply_overrides(LazyConfig.load(TINY), OVERRIDES)
    cfg.model.entity_detector.checkpoint = ""
    cfg.dataloader.train.total_batch_size = 2
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    assert model.irm.num_verbs == 3 and model.verb_mask.shape == (80, 3)

    batch = next(iter(instantiate(cfg.dataloader.train)))
    sentences = [s for x in batch for s in x["hoi_text"]["sentences"]]
    assert sentences and all(
        s
        in (
            "person wave at cup",
            "person no interaction cup",
            "person sit on chair",
            "person no interaction chair",
        )
        for s in sentences
    )
    model.train()
    losses = model(batch)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()

    # The evaluator scores the dataset's own 4 HOI classes: here the GT pairs themselves.
    model.eval()
    cfg.dataloader.evaluator.output_dir = str(tmp_path)
    evaluator = instantiate(cfg.dataloader.evaluator)
    evaluator.reset()
    test_dicts = DatasetCatalog.get("my_hoi_test")
    for d in test_dicts:
        instances = _gt_as_predictions(d)
        evaluator.process([{"image_id": d["image_id"]}], [{"hoi_instances": instances}])
    results = evaluator.evaluate()["hico_det"]
    classes_with_gt = {
        h
        for d in test_dicts
        for s, o, v in d["interactions"]
        for h, hc in enumerate(my_hoi.HOI_CLASSES)
        if hc == (d["annotations"][o]["category_id"], v)
    }
    # perfect predictions: AP 100 on the classes with test GT; the others count as 0
    assert 0 < len(classes_with_gt) < 4
    assert results["full"] == pytest.approx(100 * len(classes_with_gt) / 4, abs=1e-6)
    assert results["ko_full"] == pytest.approx(results["full"])


def _gt_as_predictions(d):
    from detectron2.structures import Boxes, Instances

    anns, rows = d["annotations"], d["interactions"]
    inst = Instances((d["height"], d["width"]))
    inst.pred_subject_boxes = Boxes(torch.tensor([anns[s]["bbox"] for s, _, _ in rows]))
    inst.pred_object_boxes = Boxes(torch.tensor([anns[o]["bbox"] for _, o, _ in rows]))
    inst.pred_object_classes = torch.tensor([anns[o]["category_id"] for _, o, _ in rows])
    inst.pred_verb_classes = torch.tensor([v for _, _, v in rows])
    inst.scores = torch.ones(len(rows))
    return inst
