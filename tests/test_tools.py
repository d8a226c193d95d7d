"""The user-facing tools: demo, dataset visualizer, interaction-information study, main job."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog, MetadataCatalog
from script_loader import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """A tiny RmLR with random weights saved as a checkpoint."""
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pth"
    torch.save({"model": instantiate(cfg.model).state_dict()}, path)
    return str(path)


@pytest.fixture(scope="module")
def sample_image():
    return DatasetCatalog.get("synthetic_hoi_test")[1]["file_name"]


def test_predictor_runs_the_model_and_returns_the_contract(random_checkpoint, sample_image):
    from detectron2.data.detection_utils import read_image

    from rmlr.engine import HOIPredictor

    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    predictor = HOIPredictor(cfg, checkpoint=random_checkpoint, device="cpu")
    image = read_image(sample_image, format="RGB")
    out = predictor(image)
    assert out.image_size == image.shape[:2]
    for field in ("pred_subject_boxes", "pred_object_boxes", "pred_object_classes"):
        assert out.has(field)
    assert out.has("pred_verb_classes") and out.has("scores")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        HOIPredictor(cfg, checkpoint="missing.pth")


class FixedPredictor:
    """Stands in for HOIPredictor: two triplets at known places (to check what is drawn)."""

    def __init__(self, cfg, *, checkpoint=None, device="auto"):
        self.metadata = MetadataCatalog.get("synthetic_hoi_test")

    def __call__(self, image_rgb):
        from detectron2.structures import Boxes, Instances

        out = Instances(image_rgb.shape[:2])
        out.pred_subject_boxes = Boxes(torch.tensor([[10.0, 20.0, 40.0, 90.0]] * 2))
        out.pred_object_boxes = Boxes(torch.tensor([[90.0, 60.0, 120.0, 80.0]] * 2))
        out.pred_object_classes = torch.tensor([32, 32])
        verbs = self.metadata.verb_classes
        out.pred_verb_classes = torch.tensor([verbs.index("kick"), verbs.index("look_at")])
        out.scores = torch.tensor([0.9, 0.05])
        return out


def test_demo_draws_pairs_and_writes_detections(sample_image, tmp_path, monkeypatch):
    demo = load_script("tools/demo.py", "tool_demo")
    monkeypatch.setattr(demo, "HOIPredictor", FixedPredictor)
    out = tmp_path / "demo"
    args = ["--config-file", TINY, "--input", sample_image, "--output", str(out)]
    results = demo.main(args + ["--score-thresh", "0.2"])
    rows = results[0]["hoi"]
    kick = MetadataCatalog.get("synthetic_hoi_test").verb_classes.index("kick")
    assert [r["verb"] for r in rows] == [kick]  # "kick" only: "look_at" is below the threshold
    with open(out / "predictions.json") as f:
        assert json.load(f)[0]["hoi"] == rows
    name = os.path.splitext(os.path.basename(sample_image))[0] + ".png"
    drawn = cv2.imread(str(out / name)).astype(int)
    original = cv2.imread(sample_image).astype(int)
    assert drawn.shape == original.shape
    changed = np.abs(drawn - original).sum(-1) > 30
    assert changed[20, 12:38].mean() > 0.8  # the human box's top edge
    assert changed[60, 92:118].mean() > 0.5  # the object box's top edge (dashed)
    assert changed[61:65, 63:67].any()  # the line between the centres (25, 55) and (105, 70)
    assert not changed[130:140, 130:140].any()  # nothing drawn far from the pair
    # --verb keeps only that verb; --top-k caps the count.
    results = demo.main(args + ["--score-thresh", "0", "--verb", "look at"])
    look_at = MetadataCatalog.get("synthetic_hoi_test").verb_classes.index("look_at")
    assert [r["verb"] for r in results[0]["hoi"]] == [look_at]
    results = demo.main(args + ["--score-thresh", "0", "--top-k", "1"])
    assert [r["score"] for r in results[0]["hoi"]] == [pytest.approx(0.9)]
    # --scale draws on a larger canvas, boxes where the image's pixels went
    demo.main(args + ["--score-thresh", "0.2", "--scale", "2"])
    big = cv2.imread(str(out / name)).astype(int)
    assert big.shape == (2 * original.shape[0], 2 * original.shape[1], 3)
    upscaled = cv2.resize(original.astype(np.uint8), big.shape[1::-1]).astype(int)
    changed = np.abs(big - upscaled).sum(-1) > 30
    assert changed[39:42, 24:76].any(axis=0).mean() > 0.8  # the human box's top edge, y = 40
    with pytest.raises(SystemExit, match="--scale"):
        demo.main(args + ["--scale", "0"])


def test_demo_rejects_unknown_verb_and_missing_input(random_checkpoint, tmp_path):
    demo = load_script("tools/demo.py", "tool_demo")
    base = ["--config-file", TINY, "--checkpoint", random_checkpoint, "--output", str(tmp_path)]
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        demo.main(base + ["--input", str(tmp_path / "nothing_here*.jpg")])
    image = DatasetCatalog.get("synthetic_hoi_test")[0]["file_name"]
    with pytest.raises(ValueError, match="not a verb"):
        demo.main(base + ["--input", image, "--verb", "fly", "model.entity_detector.checkpoint="])


def test_dataset_visualizer_draws_ground_truth(tmp_path):
    tool = load_script("tools/visualize_hoi_dataset.py", "tool_visualize_hoi_dataset")
    d = next(x for x in DatasetCatalog.get("synthetic_hoi_test") if x["interactions"])
    written = tool.main(
        [
            "--dataset",
            "synthetic_hoi_test",
            "--output",
            str(tmp_path),
            "--image-ids",
            str(d["image_id"]),
        ]
    )
    assert len(written) == 1
    drawn = cv2.imread(str(tmp_path / written[0]))
    original = cv2.imread(d["file_name"])
    s, o, _ = d["interactions"][0]
    x1, y1, x2, _ = [int(v) for v in d["annotations"][s]["bbox"]]
    edge = np.abs(drawn[y1, x1:x2].astype(int) - original[y1, x1:x2]).sum(-1)
    assert (edge > 30).mean() > 0.5
    # The person's keypoints are drawn (a dot on each, e.g. the hips, on the dark legs).
    kp = np.asarray(d["annotations"][s]["keypoints"]).reshape(-1, 3)
    for x, y, _ in kp[11:13]:
        assert np.abs(drawn[int(y), int(x)].astype(int) - original[int(y), int(x)]).sum() > 30
    args = ["--dataset", "synthetic_hoi_test", "--output", str(tmp_path / "big"), "--scale", "3"]
    (name,) = tool.main(args + ["--image-ids", str(d["image_id"])])
    big = cv2.imread(str(tmp_path / "big" / name))
    assert big.shape == (3 * original.shape[0], 3 * original.shape[1], 3)
    with pytest.raises(SystemExit, match="not in synthetic_hoi_test"):
        tool.main(
            ["--dataset", "synthetic_hoi_test", "--output", str(tmp_path), "--image-ids", "-5"]
        )


def test_interaction_information_study_measures_the_gap():
    tool = load_script(
        "tools/analyze_interaction_information.py", "tool_analyze_interaction_information"
    )
    rng = np.random.default_rng(0)
    # Humans at the same place in different images: DETR-like tokens depend on position only,
    # IRE-like features on the verb.
    verb_code = {(0,): rng.normal(size=8), (1,): rng.normal(size=8)}
    position = rng.normal(size=8)
    rows = {"box": [], "obj": [], "verbs": [], "token": [], "ire": [], "image": []}
    for image in range(8):
        verbs = (image % 2,)
        rows["box"].append(np.array([0.1, 0.1, 0.3, 0.6]))
        rows["obj"].append(32)
        rows["verbs"].append(verbs)
        rows["token"].append(position + 0.01 * rng.normal(size=8))
        rows["ire"].append(verb_code[verbs] + 0.01 * rng.normal(size=8))
        rows["image"].append(image)
    result = tool.compare(rows, position_iou=0.7, max_couples=1000)
    assert result["couples"] == 28 and result["same"] == 12
    assert result["token"]["cos_gap"] < 0.01  # position-only tokens cannot tell verbs apart
    assert result["ire"]["cos_gap"] > 0.5
    assert "IRE pair feature" in tool.table(result)


@pytest.mark.slow
def test_main_job_quick_runs_every_step(tmp_path):
    out = tmp_path / "job"
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "main_job.py"),
            "--quick",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"]) == {"stage1", "rmlr", "baseline"}
    assert "bbox" in summary["results"]["stage1"]
    for key in ("rmlr", "baseline"):
        assert set(summary["results"][key]["hico_det"]) >= {"full", "rare", "non_rare", "ko_full"}
    assert "| RmLR |" in (out / "results.md").read_text()
    assert len(list((out / "demo").glob("*.png"))) == 4
    for stage in ("stage1_detr", "stage2_rmlr", "baseline_plain"):
        assert list((out / stage).glob("events.out.tfevents.*")), stage
        assert (out / stage / "model_final.pth").is_file()
