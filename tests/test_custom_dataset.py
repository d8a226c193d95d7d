"""A user's own HOI dataset, done as the README's "Your own dataset" says, from start to finish: a
UPT-style annotation file with its own verbs and HOI table, the module that registers it (read from
the README), the README's four configs (tiny and R50, both stages), the README's commands run as a
user runs them (the dataset visualizer, stage 1, stage 2 and ``evaluate_hoi.py --import``, with a
few iterations), then the verb-count check, the mapper's annotation text, a training step of the
tiny RmLR and the HICO-DET evaluator on the dataset's own HOI classes."""

import json
import os
import re
import shutil
import subprocess
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


def readme_guide():
    """The README's "Your own dataset" section."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    start = text.index("### Your own dataset")
    return text[start : text.index("\n## ", start)]


def readme_block(first_line):
    """The guide's ```python block that starts with ``first_line``."""
    text = readme_guide()
    start = text.index("```python\n" + first_line) + len("```python\n")
    return text[start : text.index("```", start)]


def readme_commands():
    """The guide's shell commands (4-space indented ``python ...`` lines, continuations joined)."""
    text = re.sub(r"\\\n\s+", "", readme_guide())
    return [line.strip().split() for line in text.splitlines() if line.startswith("    python ")]


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


README_CONFIGS = (
    "detr/detr_tiny_my_hoi.py",
    "rmlr/rmlr_tiny_my_hoi.py",
    "detr/detr_r50_my_hoi.py",
    "rmlr/rmlr_r50_my_hoi.py",
)


def write_readme_configs(configs_dir):
    """Our configs copied to ``configs_dir`` with the README's four configs next to them (they
    import ours relatively)."""
    shutil.copytree(os.path.join(REPO, "projects", "RmLR", "configs"), configs_dir)
    for name in README_CONFIGS:
        text = readme_block(f"# projects/RmLR/configs/{name}")
        (configs_dir / name).write_text(text)


def node_at(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize("size", ["tiny", "r50"])
def test_readme_configs_change_train_and_test_data(my_hoi, tmp_path, size):
    """Both stages of both sizes train and evaluate on the user's dataset: no base config's test
    set (the synthetic one, hico_det_test) is left behind."""
    write_readme_configs(tmp_path / "configs")
    cfg = LazyConfig.load(str(tmp_path / "configs" / "rmlr" / f"rmlr_{size}_my_hoi.py"))
    for override in OVERRIDES:
        key, value = override.split("=")
        assert str(node_at(cfg, key)) == value, override
    check_dataset_classes(cfg)
    assert "_stage1" not in cfg  # the tiny config's helper import is not part of the config
    detr = LazyConfig.load(str(tmp_path / "configs" / "detr" / f"detr_{size}_my_hoi.py"))
    for split in ("train", "test"):
        assert node_at(detr, f"dataloader.{split}.dataset.names.hoi_name") == f"my_hoi_{split}"
    if size == "tiny":  # tested at the images' own short side (96 px), both stages alike
        for c in (cfg, detr):
            assert node_at(c, "dataloader.test.mapper.augmentations.test_size") == 96


@pytest.mark.slow
def test_the_guide_runs_from_start_to_finish(my_hoi, tmp_path):
    """The README's commands in order, as a user runs them from the repository root (here a copy
    holding the README's configs), with a few iterations per stage."""
    pytest.importorskip("transformers")
    root = tmp_path / "repo"
    write_readme_configs(root / "projects" / "RmLR" / "configs")
    os.symlink(os.path.join(REPO, "tools"), root / "tools")
    os.symlink(
        os.path.join(REPO, "projects", "RmLR", "weights"), root / "projects" / "RmLR" / "weights"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(my_hoi.__file__), OMP_NUM_THREADS="1")
    few = {
        "detr_tiny_my_hoi.py": ["train.max_iter=2", "train.log_period=1"],
        "rmlr_tiny_my_hoi.py": ["train.max_iter=2", "dataloader.train.total_batch_size=2"],
    }
    commands = readme_commands()
    assert [c[1] for c in commands] == [
        "tools/visualize_hoi_dataset.py",
        "tools/lazyconfig_train_net.py",
        "tools/lazyconfig_train_net.py",
        "tools/evaluate_hoi.py",
    ]
    outputs = []
    for cmd in commands:
        extra = few.get(os.path.basename(cmd[-1]), [])
        proc = subprocess.run(
            [sys.executable, *cmd[1:], *extra], cwd=root, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-3000:])
        outputs.append(proc.stdout + proc.stderr)
    # the dataset visualizer drew the training images
    assert len(list((root / "vis").glob("*.png"))) == 6
    # stage 1: trained on the user's boxes and evaluated on the user's test split
    stage1 = root / "output" / "detr_tiny_my_hoi"
    assert (stage1 / "model_final.pth").is_file()
    assert "bbox" in json.loads((stage1 / "results.json").read_text())
    log = (stage1 / "log.txt").read_text()
    assert "my_hoi_test" in log and "synthetic_hoi_test" not in log
    # stage 2: the user's 4 HOI classes; predictions, per-class AP CSV and plot by default
    stage2 = root / "output" / "rmlr_tiny_my_hoi"
    assert set(json.loads((stage2 / "results.json").read_text())["hico_det"]) >= {"full", "rare"}
    assert len((stage2 / "hico_det_per_class_ap.csv").read_text().splitlines()) == 1 + 4
    assert (stage2 / "hico_det_per_class_ap.png").read_bytes()[:4] == b"\x89PNG"
    assert (stage2 / "hoi_predictions.json.gz").is_file()
    # evaluation of the predictions file through --import my_hoi
    assert "3 of 3 dataset images have predictions" in outputs[3]
    assert "Default full" in outputs[3]


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
