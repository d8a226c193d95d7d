"""The evaluators on the real HICO-DET and V-COCO test annotations (``../shared/data``; skipped
when absent): perfect predictions score 100, the vectorized path equals the oracle (whose GT is read
from the raw files, independently of the loaders) on random predictions, and the alphabetical
object-order twin file gives identical results."""

import json
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from hoi_eval_helpers import (
    HICO_TEST_ALPHA_JSON,
    HICO_TEST_JSON,
    VCOCO_TEST_JSON,
    action_roles_of,
    oracle_hico_inputs,
    oracle_vcocodb,
    random_records,
    record,
)
from hoi_eval_oracle import hico_det_oracle, vcoco_agent_oracle, vcoco_oracle

from rmlr.data import register_hico_det, register_vcoco
from rmlr.evaluation import evaluate_hico_det, evaluate_vcoco
from rmlr.evaluation.official_export import vcoco_detections

needs_hico = pytest.mark.skipif(not os.path.isfile(HICO_TEST_JSON), reason="no HICO-DET test file")
needs_vcoco = pytest.mark.skipif(not os.path.isfile(VCOCO_TEST_JSON), reason="no V-COCO test file")


def _dataset(name, register, json_file):
    if name not in DatasetCatalog.list():
        register(name, json_file, "/nonexistent/images")
    return DatasetCatalog.get(name), MetadataCatalog.get(name)


@pytest.fixture(scope="module")
def hico():
    return _dataset("test_eval_hico_det_test", register_hico_det, HICO_TEST_JSON)


@pytest.fixture(scope="module")
def vcoco():
    return _dataset("test_eval_vcoco_test", register_vcoco, VCOCO_TEST_JSON)


def _gt_records(dicts, metadata, extra=None):
    """One prediction per GT pair (score 1), in the dataset's pair order."""
    records = {}
    for d in dicts:
        anns = d["annotations"]
        rows = [
            (anns[s]["bbox"], anns[o]["bbox"], anns[o]["category_id"], v, 1.0)
            for s, o, v in d["interactions"]
        ]
        rows += extra(d) if extra else []
        records[d["image_id"]] = record(rows)
    return records


@needs_hico
def test_hico_det_perfect_predictions_score_100_without_a_per_image_cap(hico):
    dicts, meta = hico
    assert len(dicts) == 9658 and max(len(d["interactions"]) for d in dicts) > 100
    summary = evaluate_hico_det(dicts, meta, _gt_records(dicts, meta)).summary()
    for setting in ("default", "known_object"):
        assert summary[setting] == pytest.approx(
            {"full": 100, "rare": 100, "non_rare": 100}, abs=1e-9
        )


@needs_hico
def test_hico_det_vectorized_equals_oracle_on_the_real_test_set(hico):
    dicts, meta = hico
    rng = np.random.default_rng(0)
    records = random_records(
        dicts, meta.hoi_classes, rng, per_image=6, positive_rate=0.7, amount=0.3
    )
    ap = evaluate_hico_det(dicts, meta, records).ap
    with open(HICO_TEST_JSON) as f:
        raw = json.load(f)  # oracle GT straight from the file: 1-based boxes, file pair order
    gt_pairs = [list(zip(a["hoi"], a["boxes_h"], a["boxes_o"])) for a in raw["annotation"]]
    gt_all, det_all = oracle_hico_inputs(gt_pairs, records, dicts, meta.hoi_classes)
    image_objects = np.zeros((len(dicts), 80), dtype=bool)
    for i, a in enumerate(raw["annotation"]):
        image_objects[i, a["object"]] = True
    objects = [o for o, _ in meta.hoi_classes]
    ap_def, _ = hico_det_oracle(gt_all, det_all, objects)
    ap_ko, _ = hico_det_oracle(gt_all, det_all, objects, image_objects)
    assert ap.ap_default.tolist() == ap_def and ap.ap_known_object.tolist() == ap_ko
    assert 0.05 < np.mean(ap_def) < np.mean(ap_ko) < 0.95


@needs_hico
@pytest.mark.skipif(not os.path.isfile(HICO_TEST_ALPHA_JSON), reason="no alphabetical twin file")
def test_alphabetical_object_order_twin_gives_identical_results(hico):
    dicts, meta = hico
    twin_dicts, twin_meta = _dataset(
        "test_eval_hico_det_test_alpha", register_hico_det, HICO_TEST_ALPHA_JSON
    )
    records = random_records(dicts, meta.hoi_classes, np.random.default_rng(1), per_image=4)
    ours = evaluate_hico_det(dicts, meta, records).ap
    twin = evaluate_hico_det(twin_dicts, twin_meta, records).ap  # object ids are COCO-80 in both
    np.testing.assert_array_equal(ours.ap_default, twin.ap_default)
    np.testing.assert_array_equal(ours.ap_known_object, twin.ap_known_object)


def _missing_role_predictions(d, object_box=None):
    """Predictions for the agents' action-roles whose object is not annotated: an empty role by
    default (scenario 1's requirement), or ``object_box``."""
    classes = MetadataCatalog.get("test_eval_vcoco_test").verb_classes
    action_roles, _ = action_roles_of(classes)
    anns, rows = d["annotations"], []
    have = {(s, v) for s, _, v in d["interactions"]}
    for s in sorted({s for s, _, _ in d["interactions"]}):
        actions = {action_roles[v][2] for s2, _, v in d["interactions"] if s2 == s}
        for v, (_, _, aid) in enumerate(action_roles):
            if aid in actions and (s, v) not in have:
                rows.append((anns[s]["bbox"], object_box, 1, v, 1.0))
    return rows


@needs_vcoco
def test_vcoco_perfect_predictions_score_100(vcoco):
    dicts, meta = vcoco
    metrics = evaluate_vcoco(
        dicts, meta, _gt_records(dicts, meta, _missing_role_predictions)
    ).flat()
    assert metrics == pytest.approx(
        {"AP_role_S1": 100, "AP_role_S2": 100, "AP_agent": 100}, abs=1e-9
    )
    # A predicted role box where the GT role is missing: wrong in scenario 1, ignored in 2.
    some_box = lambda d: _missing_role_predictions(d, object_box=[0, 0, 10, 10])  # noqa: E731
    metrics = evaluate_vcoco(dicts, meta, _gt_records(dicts, meta, some_box)).flat()
    assert metrics["AP_role_S1"] < 95 and metrics["AP_role_S2"] == pytest.approx(100, abs=1e-9)
    # Without any prediction for them, recall stays below 1 in both scenarios.
    metrics = evaluate_vcoco(dicts, meta, _gt_records(dicts, meta)).flat()
    assert metrics["AP_role_S2"] < 95 and metrics["AP_agent"] == pytest.approx(100, abs=1e-9)


@needs_vcoco
def test_vcoco_vectorized_equals_oracle_on_the_real_test_set(vcoco):
    dicts, meta = vcoco
    dicts = dicts[:1500]  # the oracle rebuilds arrays per image and class: keep it short
    classes = [(1 + o, v) for v in range(len(meta.verb_classes)) for o in range(3)]
    rng = np.random.default_rng(2)
    records = random_records(
        dicts, classes, rng, per_image=6, positive_rate=0.7, amount=0.3, no_object_rate=0.15
    )
    ap = evaluate_vcoco(dicts, meta, records).ap
    action_roles, actions = action_roles_of(meta.verb_classes)
    db = oracle_vcocodb(dicts, action_roles, len(actions))
    dets = vcoco_detections(records, dicts, meta)
    np.testing.assert_array_equal(ap.role_ap_s1, vcoco_oracle(db, dets, action_roles, "scenario_1"))
    np.testing.assert_array_equal(ap.role_ap_s2, vcoco_oracle(db, dets, action_roles, "scenario_2"))
    np.testing.assert_array_equal(ap.agent_ap, vcoco_agent_oracle(db, dets, actions))
