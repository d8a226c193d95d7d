"""Exports for the official tools read back: HICO-DET ``detections_XX.mat`` (scipy.io.loadmat, the
MATLAB toolkit's layout) and the V-COCO ``vsrl_eval`` pickle; the oracle run on the exported files
gives the evaluators' numbers."""

import os
import pickle

import numpy as np
import pytest
import scipy.io
from hoi_eval_helpers import (
    VCOCO_TINY_CLASSES,
    action_roles_of,
    gt_pairs_from_dicts,
    hico_metadata,
    image_dict,
    image_objects_from_pairs,
    oracle_hico_inputs,
    oracle_vcocodb,
    random_records,
    record,
    vcoco_metadata,
)
from hoi_eval_oracle import hico_det_oracle, vcoco_agent_oracle, vcoco_oracle

from rmlr.evaluation import (
    evaluate_hico_det,
    evaluate_vcoco,
    export_hico_det_matlab,
    export_vcoco_pickle,
)
from rmlr.evaluation.official_export import VCOCO_ACTIONS

# Object 1 has HOIs 0, 1, 3; object 2 has HOI 2 (HOIs of an object need not be contiguous).
HOIS = [(1, 0), (1, 1), (2, 0), (1, 2)]
H, O = [10.5, 10, 50, 90], [40, 30, 80, 70.25]


def test_hico_det_matlab_layout(tmp_path):
    dicts = [image_dict(1, [(H, O, 1, 0)]), image_dict(2, []), image_dict(3, [(H, O, 2, 0)])]
    records = {
        1: record([(H, O, 1, 1, 0.25), (H, O, 1, 0, 0.5), (H, O, 1, 1, 0.75)]),
        3: record([(H, O, 2, 0, 0.125)]),
    }
    paths = export_hico_det_matlab(records, dicts, hico_metadata(HOIS), str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["detections_02.mat", "detections_03.mat"]
    obj1 = scipy.io.loadmat(paths[0])["all_boxes"]
    assert obj1.shape == (3, 3) and obj1.dtype == object  # (HOIs 0, 1, 3) x (images)
    zero_based = [H[0], H[1], H[2] - 1, H[3] - 1, O[0], O[1], O[2] - 1, O[3] - 1]
    np.testing.assert_array_equal(obj1[0, 0], [zero_based + [0.5]])
    np.testing.assert_array_equal(
        obj1[1, 0], [zero_based + [0.25], zero_based + [0.75]]
    )  # order kept
    assert obj1[1, 0].dtype == np.float64
    assert all(obj1[r, c].shape == (0, 9) for r, c in [(0, 1), (0, 2), (2, 0), (2, 1)])
    obj2 = scipy.io.loadmat(paths[1])["all_boxes"]
    assert obj2.shape == (1, 3)
    np.testing.assert_array_equal(obj2[0, 2], [zero_based + [0.125]])


def test_oracle_on_exported_mat_files_equals_the_evaluator(tmp_path):
    rng = np.random.default_rng(3)
    dicts = []
    for i in range(12):
        pairs = []
        for _ in range(rng.integers(0, 4)):
            obj, verb = HOIS[rng.integers(len(HOIS))]
            h = np.sort(rng.integers(0, 30, (2, 2)), axis=1) + [0, 1]
            o = np.sort(rng.integers(0, 30, (2, 2)), axis=1) + [0, 1]
            pairs.append(
                (
                    [h[0, 0], h[1, 0], h[0, 1], h[1, 1]],
                    [o[0, 0], o[1, 0], o[0, 1], o[1, 1]],
                    obj,
                    verb,
                )
            )
        dicts.append(image_dict(i, pairs, width=31, height=31))
    records = random_records(dicts, HOIS, rng, per_image=15, score_decimals=1)
    meta = hico_metadata(HOIS)
    export_hico_det_matlab(records, dicts, meta, str(tmp_path))
    det_all = [None] * len(HOIS)
    for obj in (1, 2):
        cells = scipy.io.loadmat(str(tmp_path / f"detections_{obj + 1:02d}.mat"))["all_boxes"]
        for row, hoi in enumerate(h for h, (o, _) in enumerate(HOIS) if o == obj):
            det_all[hoi] = [cells[row, j] for j in range(len(dicts))]
    gt_pairs = gt_pairs_from_dicts(dicts, HOIS)
    gt_all, _ = oracle_hico_inputs(gt_pairs, {}, dicts, HOIS)
    objects = [o for o, _ in HOIS]
    ap = evaluate_hico_det(dicts, meta, records).ap
    assert ap.ap_default.tolist() == hico_det_oracle(gt_all, det_all, objects)[0]
    ko = image_objects_from_pairs(gt_pairs, HOIS, 3)
    assert ap.ap_known_object.tolist() == hico_det_oracle(gt_all, det_all, objects, ko)[0]


def test_vcoco_pickle_reads_back_and_the_oracle_on_it_equals_the_evaluator(tmp_path):
    P, B = [10, 10, 50, 90], [40, 30, 80, 70]
    dicts = [
        image_dict(1, [(P, B, 1, 0), (P, B, 1, 1)], agent_only=[([60, 10, 95, 90], 2)]),
        image_dict(2, []),
    ]
    rng = np.random.default_rng(4)
    records = random_records(
        dicts, [(1, v) for v in range(4)], rng, per_image=30, score_decimals=1, no_object_rate=0.3
    )
    meta = vcoco_metadata()
    path = export_vcoco_pickle(records, dicts, meta, str(tmp_path / "vcoco_detections.pkl"))
    with open(path, "rb") as f:
        dets = pickle.load(f)
    assert len(dets) == sum(len(r["scores"]) for r in records.values())
    expected_keys = {"image_id", "person_box"} | {
        f"{a}_{r}" for a, roles in VCOCO_ACTIONS for r in roles
    }
    assert all(set(d) == expected_keys for d in dets)
    first = dets[0]
    r = records[1]
    np.testing.assert_array_equal(first["person_box"], r["subject_boxes"][0] - [0, 0, 1, 1])
    action, role = VCOCO_TINY_CLASSES[r["verbs"][0]].split()
    assert first[f"{action}_{role}"][4] == r["scores"][0]
    assert np.isnan(dets[0]["stand_agent"]) and np.isnan(dets[0]["point_instr"]).all()
    action_roles, actions = action_roles_of(VCOCO_TINY_CLASSES)
    db = oracle_vcocodb(dicts, action_roles, len(actions))
    ap = evaluate_vcoco(dicts, meta, records).ap
    np.testing.assert_array_equal(ap.role_ap_s1, vcoco_oracle(db, dets, action_roles, "scenario_1"))
    np.testing.assert_array_equal(ap.role_ap_s2, vcoco_oracle(db, dets, action_roles, "scenario_2"))
    np.testing.assert_array_equal(ap.agent_ap, vcoco_agent_oracle(db, dets, actions))


def test_vcoco_agent_score_is_given_once_per_person_and_action(tmp_path):
    P, B = [10, 10, 50, 90], [40, 30, 80, 70]
    records = {1: record([(P, B, 1, 1, 0.5), (P, None, -1, 2, 0.75), (P, B, 1, 0, 0.25)])}
    path = export_vcoco_pickle(
        records, [image_dict(1, [])], vcoco_metadata(), str(tmp_path / "d.pkl")
    )
    with open(path, "rb") as f:
        eat_obj, eat_instr, hold = pickle.load(f)
    assert eat_obj["eat_agent"] == 0.75 and np.isnan(
        eat_instr["eat_agent"]
    )  # first entry, best score
    assert hold["hold_agent"] == 0.25 and np.isnan(hold["eat_agent"])
    assert eat_obj["eat_obj"] == [40, 30, 79, 69, 0.5]
    assert np.isnan(eat_instr["eat_instr"][:4]).all() and eat_instr["eat_instr"][4] == 0.75


def test_vcoco_export_rejects_non_vcoco_classes(tmp_path):
    with pytest.raises(ValueError, match="not a V-COCO action-role"):
        export_vcoco_pickle(
            {}, [], vcoco_metadata(["hold obj", "fly kite"]), str(tmp_path / "x.pkl")
        )
