"""Zero-shot evaluation: mAP over unseen and seen classes in the evaluator, the results table, the
per-class CSV and ``tools/evaluate_hoi.py --zero-shot``."""

import csv
import json

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from hoi_eval_helpers import hico_metadata, image_dict, record
from script_loader import load_script

from rmlr.data import synthetic_zero_shot_splits
from rmlr.engine.results import format_results_table
from rmlr.evaluation import evaluate_hico_det, records_to_entries, save_predictions

H, O, FAR = [0, 0, 10, 10], [20, 0, 30, 10], [60, 60, 70, 70]
CLASSES = [(1, 0), (1, 1), (2, 0)]  # object1 verb0, object1 verb1, object2 verb0


def _case():
    dicts = [
        image_dict(1, [(H, O, 1, 0), (H, O, 1, 1)]),
        image_dict(2, [(H, O, 2, 0)]),
    ]
    records = {
        # class 0: one true positive -> AP 1
        # class 1: a false positive ranked above the true positive -> precision 1/2 at recall 1,
        #          AP = 11 x 0.5 / 11 = 0.5
        1: record([(H, O, 1, 0, 0.9), (H, FAR, 1, 1, 0.8), (H, O, 1, 1, 0.7)]),
        # class 2: no detection -> AP 0
        2: record([]),
    }
    return dicts, records


def test_unseen_and_seen_means_on_a_hand_made_case(tmp_path):
    dicts, records = _case()
    meta = hico_metadata(CLASSES)
    result = evaluate_hico_det(dicts, meta, records, unseen_hoi_ids=[1, 2])
    s = result.summary()
    for setting in ("default", "known_object"):
        assert s[setting]["full"] == pytest.approx(100 * 1.5 / 3)
        assert s[setting]["unseen"] == pytest.approx(100 * (0.5 + 0.0) / 2)
        assert s[setting]["seen"] == pytest.approx(100.0)
    flat = result.flat()
    assert flat["ko_unseen"] == pytest.approx(25.0) and flat["ko_seen"] == pytest.approx(100.0)
    table = format_results_table({"hico_det": flat})
    assert "| Unseen | Seen |" in table and "| 25.00 | 100.00 |" in table
    result.write_csv(tmp_path / "ap.csv")
    rows = list(csv.DictReader(open(tmp_path / "ap.csv")))
    assert [r["unseen"] for r in rows] == ["0", "1", "1"]
    # without a setting: no unseen / seen numbers, no extra column, the table as before
    plain = evaluate_hico_det(dicts, meta, records)
    assert "unseen" not in plain.flat() and "Unseen" not in format_results_table(
        {"hico_det": plain.flat()}
    )
    plain.write_csv(tmp_path / "plain.csv")
    assert "unseen" not in open(tmp_path / "plain.csv").readline()
    with pytest.raises(ValueError, match="unseen_hoi_ids"):
        evaluate_hico_det(dicts, meta, records, unseen_hoi_ids=[3])


def test_cli_zero_shot_on_the_synthetic_test_set(tmp_path, capsys):
    tool = load_script("tools/evaluate_hoi.py")
    dicts = DatasetCatalog.get("synthetic_hoi_test")
    unseen = synthetic_zero_shot_splits()["synthetic_uv"]
    records = {}
    for d in dicts:
        anns = d["annotations"]
        rows = [
            (anns[s]["bbox"], anns[o]["bbox"], anns[o]["category_id"], v, 1.0)
            for s, o, v in d["interactions"]
        ]
        # a perfect detector on every class except the unseen ones, which it never predicts
        hoi = MetadataCatalog.get("synthetic_hoi_test").hoi_classes
        rows = [r for r in rows if list(hoi).index((r[2], r[3])) not in unseen]
        records[d["image_id"]] = record(rows)
    predictions = str(tmp_path / "p.json.gz")
    save_predictions(records_to_entries(records, dicts), predictions)
    output = tmp_path / "m.json"
    args = ["--dataset", "synthetic_hoi_test", "--predictions", predictions]
    assert tool.main(args + ["--zero-shot", "synthetic_uv", "--output", str(output)]) == 0
    metrics = json.loads(output.read_text())
    assert metrics["default"]["unseen"] == 0.0 and metrics["default"]["seen"] == pytest.approx(100)
    assert metrics["known_object"]["seen"] == pytest.approx(100)
    assert "Default unseen" in capsys.readouterr().out
    # the same from a file of ids
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(unseen))
    assert tool.main(args + ["--zero-shot", str(ids), "--output", str(output)]) == 0
    assert json.loads(output.read_text()) == metrics
    # a HICO-DET setting on the synthetic classes, and an unknown name: one clear line each
    assert tool.main(args + ["--zero-shot", "uv"]) == 1
    assert "only 27 HOI classes" in capsys.readouterr().err
    assert tool.main(args + ["--zero-shot", "nope"]) == 1
    assert "unknown zero-shot setting 'nope'" in capsys.readouterr().err
