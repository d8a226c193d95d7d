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

    batch_size = 1

    def __init__(self, cfg, *, checkpoint=None, device="auto"):
        self.metadata = MetadataCatalog.get("synthetic_hoi_test")

    def predict(self, images_rgb):
        return [self(image) for image in images_rgb]

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


class NeverLoaded:
    def __init__(self, *args, **kwargs):
        raise AssertionError("the model was loaded although the arguments are wrong")


@pytest.mark.parametrize(
    "bad, message",
    [
        (["--verb", "jump"], "--verb 'jump' is not a verb of this dataset; known: carry"),
        (["--input", "nothing_here*.jpg"], "--input 'nothing_here*.jpg': no such image"),
        (["--top-k", "-1"], "--top-k: must be a positive integer"),
        (["--top-k", "0"], "--top-k: must be a positive integer"),
        (["--top-k", "three"], "--top-k: expected a positive integer"),
        (["--scale", "0"], "--scale: must be a positive number"),
        (["--score-thresh", "1.5"], "--score-thresh: must be in [0, 1]"),
        (["--attention", "-2"], "--attention must be >= 0"),
        (["--video-input", "no_such_clip.mp4"], "--video-input 'no_such_clip.mp4': no such file"),
    ],
)
def test_demo_argument_errors_come_before_the_model_without_traceback(
    bad, message, sample_image, tmp_path, monkeypatch, capsys
):
    demo = load_script("tools/demo.py", "tool_demo")
    monkeypatch.setattr(demo, "HOIPredictor", NeverLoaded)
    monkeypatch.chdir(tmp_path)
    args = ["--config-file", TINY, "--output", str(tmp_path / "out"), "--input", sample_image]
    with pytest.raises(SystemExit) as exit_info:
        demo.main(args + bad)
    assert exit_info.value.code == 2  # argparse's usage error, printed without a traceback
    err = capsys.readouterr().err
    assert "demo.py: error: " in err and message in err and "Traceback" not in err


def test_demo_skips_unreadable_images_names_outputs_apart_and_reports_progress(
    tmp_path, monkeypatch, capsys
):
    """Two inputs named img.png in different folders and one corrupt image: both pictures are
    written under distinct names, the corrupt one is skipped, counted and reported, and
    predictions.json is still written."""
    demo = load_script("tools/demo.py", "tool_demo")
    monkeypatch.setattr(demo, "HOIPredictor", FixedPredictor)
    test_images = [d["file_name"] for d in DatasetCatalog.get("synthetic_hoi_test")[:2]]
    for folder, source in (("a", test_images[0]), ("b", test_images[1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "img.png").write_bytes(open(source, "rb").read())
    (tmp_path / "a" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    results = demo.main(
        ["--config-file", TINY, "--output", str(out), "--score-thresh", "0"]
        + ["--input", str(tmp_path / "a"), str(tmp_path / "b" / "*.png")]
    )
    assert [r["output"] for r in results] == ["a__img.png", "b__img.png"]
    pictures = [cv2.imread(str(out / r["output"])) for r in results]
    assert pictures[0].shape != pictures[1].shape or not np.array_equal(*pictures)
    with open(out / "predictions.json") as f:
        assert [e["file_name"] for e in json.load(f)] == [r["file_name"] for r in results]
    err = capsys.readouterr().err
    assert "skipped 1 of 3 image(s) that could not be read" in err and "broken.png" in err
    assert "demo: 3/3 images (100%)" in err and "eta" in err


def test_demo_batches_give_the_predictions_of_single_images(random_checkpoint, tmp_path):
    """``--batch-size 3`` over 5 images of different sizes (and the attention pictures' input):
    the same predictions.json as one image at a time."""
    from rmlr.utils.cost import pin_detections

    demo = load_script("tools/demo.py", "tool_demo_batches")
    real = demo.HOIPredictor

    def pinned(*args, **kwargs):  # random weights detect nothing: 2 persons + 3 objects
        predictor = real(*args, **kwargs)
        pin_detections(predictor.model.entity_detector.detector.detr, 2, 3)
        return predictor

    demo.HOIPredictor = pinned
    files = [d["file_name"] for d in DatasetCatalog.get("synthetic_hoi_test")[:5]]
    assert len({cv2.imread(f).shape for f in files}) > 1
    outputs = {}
    for b in ("1", "3"):
        out = tmp_path / b
        demo.main(
            ["--config-file", TINY, "--checkpoint", random_checkpoint, "--output", str(out)]
            + ["--score-thresh", "0", "--top-k", "50", "--batch-size", b, "--device", "cpu"]
            + ["--attention", "1", "--input", *files]
        )
        with open(out / "predictions.json") as f:
            outputs[b] = json.load(f)
    assert sum(len(e["hoi"]) for e in outputs["1"]) > 0
    assert [e["file_name"] for e in outputs["3"]] == files
    for one, three in zip(outputs["1"], outputs["3"]):
        assert one["attention"] == three["attention"]
        assert len(one["hoi"]) == len(three["hoi"])
        for a, b in zip(one["hoi"], three["hoi"]):
            assert a["verb"] == b["verb"] and a["object_category"] == b["object_category"]
            np.testing.assert_allclose(a["subject_box"], b["subject_box"], atol=1e-4)
            np.testing.assert_allclose(a["object_box"], b["object_box"], atol=1e-4)
            assert a["score"] == pytest.approx(b["score"], rel=1e-4, abs=1e-6)


def test_demo_attention_pictures(random_checkpoint, sample_image, tmp_path, monkeypatch):
    """``--attention 2``: the two best shown pairs get an attention picture each."""
    from test_model_rmlr import control_detections

    from rmlr.engine import HOIPredictor

    class SteeredPredictor(HOIPredictor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            control_detections(self.model)

    demo = load_script("tools/demo.py", "tool_demo")
    monkeypatch.setattr(demo, "HOIPredictor", SteeredPredictor)
    out = tmp_path / "out"
    results = demo.main(
        ["--config-file", TINY, "--checkpoint", random_checkpoint, "--output", str(out)]
        + ["--input", sample_image, "--score-thresh", "0", "--attention", "2", "--device", "cpu"]
        + ["model.entity_detector.checkpoint="]
    )
    stem = os.path.splitext(os.path.basename(sample_image))[0]
    assert results[0]["attention"] == [f"{stem}.attention1.png", f"{stem}.attention2.png"]
    picture = cv2.imread(str(out / results[0]["attention"][0]))
    assert picture.shape[1] > 2 * cv2.imread(sample_image).shape[1]


def test_dataset_visualizer_draws_ground_truth(tmp_path, capsys):
    tool = load_script("tools/visualize_hoi_dataset.py", "tool_visualize_hoi_dataset")
    d = next(x for x in DatasetCatalog.get("synthetic_hoi_test") if x["interactions"])
    base = ["--dataset", "synthetic_hoi_test", "--output", str(tmp_path)]
    written = tool.main(base + ["--image-ids", str(d["image_id"])])
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
    # --scale draws larger
    written = tool.main(base + ["--image-ids", str(d["image_id"]), "--scale", "3"])
    assert cv2.imread(str(tmp_path / written[0])).shape[0] == 3 * original.shape[0]
    assert len(tool.main(base + ["--num", "3"])) == 3
    for bad, message in (
        (["--image-ids", "-5"], "--image-ids not in synthetic_hoi_test: [-5]"),
        (["--num", "-3"], "--num: must be a positive integer"),  # drew 97 images before
        (["--num", "0"], "--num: must be a positive integer"),
        (["--scale", "-1"], "--scale: must be a positive number"),
        (["--dataset", "nope"], "--dataset 'nope' is not registered"),
    ):
        with pytest.raises(SystemExit):
            tool.main(base + bad)
        assert message in capsys.readouterr().err


def _gt_records(dicts, extra_score=None):
    """The GT of each image as predictions (score 0.9), plus a copy of the first at
    ``extra_score``."""
    from rmlr.evaluation.records import make_record

    records = {}
    for d in dicts:
        anns = d["annotations"]
        rows = [
            (anns[s]["bbox"], anns[o]["bbox"], anns[o]["category_id"], v, 0.9)
            for s, o, v in d["interactions"]
        ]
        if rows and extra_score is not None:
            rows.append(rows[0][:4] + (extra_score,))
        columns = [list(c) for c in zip(*rows)] if rows else [[]] * 5
        records[d["image_id"]] = make_record(*columns)
    return records


def test_predictions_visualizer_draws_evaluator_and_demo_files(tmp_path, capsys):
    from rmlr.evaluation import records_to_entries, save_predictions

    tool = load_script("tools/visualize_hoi_predictions.py", "tool_visualize_hoi_predictions")
    dicts = [d for d in DatasetCatalog.get("synthetic_hoi_test") if d["interactions"]][:5]
    path = str(tmp_path / "hoi_predictions.json.gz")
    save_predictions(records_to_entries(_gt_records(dicts, 0.05), dicts), path)
    out = tmp_path / "v"
    base = ["--predictions", path, "--dataset", "synthetic_hoi_test", "--output", str(out)]
    names = tool.main(base + ["--with-gt", "--scale", "2"])
    assert len(names) == 5
    picture = cv2.imread(str(out / names[0]))
    assert picture.shape[0] == 2 * dicts[0]["height"]
    assert picture.shape[1] >= 4 * dicts[0]["width"]  # predictions | ground truth
    # one image, by file name
    name = os.path.basename(dicts[2]["file_name"])
    assert tool.main(base + ["--image", name]) == [os.path.splitext(name)[0] + ".png"]
    with pytest.raises(SystemExit):
        tool.main(base + ["--image", "no_such.png"])
    assert "--image 'no_such.png': no entry" in capsys.readouterr().err
    # the demo's file: entries with image paths, no image ids
    demo_file = tmp_path / "predictions.json"
    demo_file.write_text(json.dumps([{"file_name": dicts[1]["file_name"], "hoi": []}]))
    names = tool.main(
        ["--predictions", str(demo_file), "--dataset", "synthetic_hoi_test"]
        + ["--output", str(tmp_path / "w")]
    )
    assert names == [os.path.splitext(os.path.basename(dicts[1]["file_name"]))[0] + ".png"]


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
    assert set(summary["results"]) == {"stage1", "rmlr", "wo_cl", "baseline"}
    # --quick skips stage 1's 80-class COCO evaluation (75 classes absent: NaN rows)
    assert summary["results"]["stage1"] == {}
    assert "Inference done" not in (out / "stage1_detr" / "stdout.log").read_text()
    for key in ("rmlr", "wo_cl", "baseline"):
        assert set(summary["results"][key]["hico_det"]) >= {"full", "rare", "non_rare", "ko_full"}
    text = (out / "results.md").read_text()
    assert "| RmLR |" in text and "not evaluated (--quick)" in text
    assert "| w/o CL (IRE + IRM, no language) |" in text and "| plain model (UPT head" in text
    assert len(list((out / "demo").glob("*.png"))) == 4
    for stage in ("stage1_detr", "stage2_rmlr", "baseline_wo_cl", "baseline_plain"):
        assert list((out / stage).glob("events.out.tfevents.*")), stage
        assert (out / stage / "model_final.pth").is_file()
    for stage in ("stage2_rmlr", "baseline_wo_cl", "baseline_plain"):  # results by default
        for name in ("hoi_predictions.json.gz", "hico_det_per_class_ap.csv"):
            assert (out / stage / name).is_file(), (stage, name)
        assert (out / stage / "hico_det_per_class_ap.png").read_bytes()[:4] == b"\x89PNG"
    # progress of every step on the console, one FutureWarning filter for all
    for step in ("[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]"):
        assert step in proc.stdout
    assert "stage 1: iteration" in proc.stdout and "stage 2: iteration" in proc.stdout
    assert "demo: " in proc.stdout and "images (100%)" in proc.stdout
    assert "torch.jit.script" not in proc.stderr + proc.stdout


# --- help, warnings and missing files -----------------------------------------------------------


def _parser_of(script):
    """The argparse parser of a tool, built as the tool builds it."""
    if script == "datasets/prepare_synthetic.py":
        from rmlr.data.synthetic import get_parser

        return get_parser()
    return load_script(script, "tool_" + os.path.basename(script)[:-3]).get_parser()


@pytest.mark.parametrize(
    "script, example",
    [
        ("tools/demo.py", "--attention 2"),
        ("tools/visualize_hoi_dataset.py", "--scale 3"),
        ("tools/visualize_hoi_predictions.py", "--with-gt"),
        ("tools/evaluate_hoi.py", "--import my_hoi"),
        ("tools/lazyconfig_train_net.py", "train.grad_accum_steps=4"),
        ("tools/main_job.py", "--quick"),
        ("tools/analyze_interaction_information.py", "--max-images 500"),
        ("datasets/prepare_synthetic.py", "$DETECTRON2_DATASETS/synthetic_hoi"),
    ],
)
def test_help_shows_this_projects_usage_and_every_flags_meaning(script, example):
    parser = _parser_of(script)
    text = parser.format_help()
    assert parser.prog == os.path.basename(script) and example in text
    for detectron2_default in ("cfg.yaml", "Yacs", "Run on single machine"):
        assert detectron2_default not in text
    for action in parser._actions:
        assert action.help, f"{script}: {action.option_strings or action.dest} has no help"
        assert "None" not in action.help % {"default": action.default}, (script, action.dest)


def test_the_torch_jit_warning_is_filtered_once_for_all_tools():
    """``torch.jit.script``'s FutureWarning printed twice by every tool; ``import rmlr`` (first in
    every tool) filters exactly that warning."""
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "visualize_hoi_dataset.py"), "--help"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "usage: visualize_hoi_dataset.py" in proc.stdout
    assert "FutureWarning" not in proc.stderr, proc.stderr


def test_missing_dataset_file_names_it_and_points_to_the_datasets_readme(tmp_path):
    from detectron2.data import MetadataCatalog

    from rmlr.data import register_hico_det

    path = str(tmp_path / "hicodet" / "instances_test2015.json")
    register_hico_det("test_tools_missing_file", path, str(tmp_path))
    try:
        with pytest.raises(FileNotFoundError) as error:
            DatasetCatalog.get("test_tools_missing_file")
        assert path in str(error.value) and "datasets/README.md" in str(error.value)
    finally:
        DatasetCatalog.remove("test_tools_missing_file")
        MetadataCatalog.remove("test_tools_missing_file")
