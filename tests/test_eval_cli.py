"""``tools/evaluate_hoi.py``: evaluates a predictions file against a dataset registered on the fly
(the real test annotations in ``../shared/data``; skipped when absent) and fails clearly."""

import json
import os
import subprocess
import sys

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from hoi_eval_helpers import HICO_TEST_JSON, REPO, VCOCO_TEST_JSON
from script_loader import load_script

from rmlr.data import register_hico_det
from rmlr.evaluation import records_to_entries, save_predictions

TOOL = os.path.join(REPO, "tools", "evaluate_hoi.py")


def _gt_entries(dicts, limit=None):
    from hoi_eval_helpers import record

    records = {}
    for d in dicts[:limit]:
        anns = d["annotations"]
        rows = [
            (anns[s]["bbox"], anns[o]["bbox"], anns[o]["category_id"], v, 1.0)
            for s, o, v in d["interactions"]
        ]
        records[d["image_id"]] = record(rows)
    return records_to_entries(records, dicts)


@pytest.mark.skipif(not os.path.isfile(HICO_TEST_JSON), reason="no HICO-DET test file")
def test_cli_hico_det_end_to_end(tmp_path):
    if "test_eval_cli_gt" not in DatasetCatalog.list():
        register_hico_det("test_eval_cli_gt", HICO_TEST_JSON, "/nonexistent")
    predictions = str(tmp_path / "predictions.json.gz")
    save_predictions(_gt_entries(DatasetCatalog.get("test_eval_cli_gt")), predictions)
    output, csv_path = tmp_path / "metrics.json", tmp_path / "per_class.csv"
    cmd = [
        sys.executable,
        TOOL,
        "--dataset",
        "cli_hico",
        "--json-file",
        HICO_TEST_JSON,
        "--format",
        "hico_det",
        "--predictions",
        predictions,
        "--output",
        str(output),
        "--per-class-csv",
        str(csv_path),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "Default full" in out.stdout and "Known-Object rare" in out.stdout
    metrics = json.loads(output.read_text())
    assert set(metrics) == {"default", "known_object"}
    for setting in metrics.values():
        assert setting == pytest.approx({"full": 100, "rare": 100, "non_rare": 100}, abs=1e-9)
    assert len(csv_path.read_text().splitlines()) == 601


@pytest.mark.skipif(not os.path.isfile(VCOCO_TEST_JSON), reason="no V-COCO test file")
def test_cli_vcoco_in_process(tmp_path, capsys):
    tool = load_script("tools/evaluate_hoi.py")
    predictions = str(tmp_path / "p.json")
    entry = {
        "file_name": "COCO_val2014_000000000564.jpg",
        "image_id": 564,
        "hoi": [
            {
                "subject_box": [230.51, 335.3, 377.99, 614.5],
                "object_box": [296.89, 432.81, 402.37, 473.63],
                "object_category": 38,
                "verb": 0,
                "score": 0.9,
            }
        ],
    }
    save_predictions([entry], predictions)
    output = tmp_path / "m.json"
    rc = tool.main(
        [
            "--dataset",
            "cli_vcoco",
            "--json-file",
            VCOCO_TEST_JSON,
            "--format",
            "vcoco",
            "--predictions",
            predictions,
            "--output",
            str(output),
            "--export-official",
            str(tmp_path),
            "--allow-partial",  # one image of 4,946
        ]
    )
    assert rc == 0
    metrics = json.loads(output.read_text())
    assert {"AP_role_S1", "AP_role_S2", "AP_agent", "per_class"} <= set(metrics)
    assert len(metrics["per_class"]) == 24 and metrics["per_class"]["hold obj"]["AP_role_S1"] > 0
    assert os.path.isfile(tmp_path / "vcoco_detections.pkl")
    assert "AP_role_S1" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    tool = load_script("tools/evaluate_hoi.py")
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps([{"file_name": "nope.jpg", "image_id": -5, "hoi": []}]))
    rc = tool.main(["--dataset", "no_such_dataset_xyz", "--predictions", str(predictions)])
    assert rc == 1 and "not registered" in capsys.readouterr().err
    if os.path.isfile(HICO_TEST_JSON):
        rc = tool.main(
            [
                "--dataset",
                "cli_hico_bad",
                "--json-file",
                HICO_TEST_JSON,
                "--format",
                "hico_det",
                "--predictions",
                str(predictions),
            ]
        )
        assert (
            rc == 1
            and "entry 0 (image_id -5, file_name 'nope.jpg'): unknown image"
            in capsys.readouterr().err
        )
    rc = tool.main(
        ["--dataset", "cli_x", "--json-file", "x.json", "--predictions", str(predictions)]
    )
    assert rc == 1 and "--json-file needs --format" in capsys.readouterr().err
    assert MetadataCatalog.get("cli_x").as_dict() == {"name": "cli_x"}


def test_cli_reports_coverage_and_refuses_a_partial_file(tmp_path, capsys):
    """4 of the 100 synthetic test images have entries: refused (it printed 1.30 mAP before);
    with --allow-partial scored under a loud warning; a full file reports full coverage."""
    tool = load_script("tools/evaluate_hoi.py")
    dicts = DatasetCatalog.get("synthetic_hoi_test")
    partial, full = str(tmp_path / "partial.json"), str(tmp_path / "full.json.gz")
    save_predictions(_gt_entries(dicts, limit=4), partial)
    save_predictions(_gt_entries(dicts), full)
    args = ["--dataset", "synthetic_hoi_test", "--predictions"]
    assert tool.main(args + [partial]) == 1
    err = capsys.readouterr().err
    assert "covers only 4 of the 100 images" in err and "--allow-partial" in err
    assert tool.main(args + [partial, "--allow-partial"]) == 0
    captured = capsys.readouterr()
    assert "WARNING" in captured.err and "NOT comparable" in captured.err
    assert "4 of 100 dataset images have predictions; 96 have none" in captured.out
    assert tool.main(args + [full]) == 0
    out = capsys.readouterr().out
    assert "100 of 100 dataset images have predictions; 0 have none" in out
