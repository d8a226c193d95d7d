"""V-COCO role AP (scenarios 1 and 2) and agent AP: hand-computed cases of ``vsrl_eval.py``'s
protocol and the vectorized path against the per-detection oracle on random data."""

import numpy as np
import pytest
from hoi_eval_helpers import (
    VCOCO_TINY_CLASSES,
    action_roles_of,
    image_dict,
    oracle_vcocodb,
    random_records,
    record,
    vcoco_metadata,
)
from hoi_eval_oracle import vcoco_agent_oracle, vcoco_oracle

from rmlr.evaluation import evaluate_vcoco
from rmlr.evaluation.official_export import vcoco_detections
from rmlr.evaluation.vcoco_ap import gt_to_vsrl_boxes, to_vsrl_boxes, vsrl_iou

# Classes: 0 "hold obj", 1 "eat obj", 2 "eat instr", 3 "ride instr"; actions hold, eat, ride.
HOLD, EAT_OBJ, EAT_INSTR, RIDE = range(4)
P, Q = [10, 10, 50, 90], [60, 10, 95, 90]
B, C = [40, 30, 80, 70], [0, 0, 20, 20]


def evaluate(dicts, records):
    return evaluate_vcoco(dicts, vcoco_metadata(), records).ap


def test_missing_role_scenario_1_needs_an_empty_role_scenario_2_ignores_it():
    # P eats with an annotated instrument; the eaten object is not annotated.
    dicts = [image_dict(1, [(P, C, 2, EAT_INSTR)])]
    empty_role = evaluate(dicts, {1: record([(P, None, -1, EAT_OBJ, 0.9)])})
    some_role = evaluate(dicts, {1: record([(P, B, 1, EAT_OBJ, 0.9)])})
    assert empty_role.num_gt_role[EAT_OBJ] == 1  # npos counts agents with the action
    assert empty_role.role_ap_s1[EAT_OBJ] == 1.0 and empty_role.role_ap_s2[EAT_OBJ] == 1.0
    assert some_role.role_ap_s1[EAT_OBJ] == 0.0 and some_role.role_ap_s2[EAT_OBJ] == 1.0


def test_agent_only_positives_count_with_a_missing_role():
    dicts = [image_dict(1, [], agent_only=[(P, EAT_OBJ)]), image_dict(2, [(P, B, 1, EAT_OBJ)])]
    ap = evaluate(dicts, {2: record([(P, B, 1, EAT_OBJ, 0.9)])})
    assert ap.num_gt_role[EAT_OBJ] == 2 and ap.num_gt_role[EAT_INSTR] == 2
    assert ap.role_ap_s1[EAT_OBJ] == 0.5 and ap.num_gt_agent.tolist() == [0, 2, 0]


def test_agent_is_matched_by_agent_box_alone():
    # The detection's agent box is closest to P, its role box is Q's object: false positive,
    # although it would be a true positive for Q.
    q_obj = [62, 40, 90, 80]
    near_p = [12, 10, 60, 90]  # IoU 0.83 with P, 0.34 with Q
    dicts = [image_dict(1, [(P, B, 1, HOLD), (Q, q_obj, 1, HOLD)])]
    ap = evaluate(dicts, {1: record([(near_p, q_obj, 1, HOLD, 0.9), (Q, q_obj, 1, HOLD, 0.8)])})
    assert ap.role_ap_s1[HOLD] == pytest.approx(0.5 * 0.5)  # tp [0, 1] of 2: rec .5 at prec .5


def test_duplicate_of_a_covered_agent_is_a_false_positive():
    p2 = [14, 10, 54, 90]
    dicts = [image_dict(1, [(P, B, 1, HOLD), (p2, B, 1, HOLD)])]
    # The second detection is closer to P (covered) than to p2 (IoU 0.86 >= 0.5): FP.
    ap = evaluate(dicts, {1: record([(P, B, 1, HOLD, 0.9), ([11, 10, 51, 90], B, 1, HOLD, 0.8)])})
    assert ap.role_ap_s1[HOLD] == pytest.approx(0.5) and ap.role_ap_s2[HOLD] == pytest.approx(0.5)


def test_all_point_ap_and_images_without_agents():
    dicts = [image_dict(1, [(P, B, 1, HOLD)]), image_dict(2, [(P, B, 1, HOLD)]), image_dict(3, [])]
    records = {
        3: record([(P, B, 1, HOLD, 0.95)]),  # no GT agent in the image: FP
        1: record([(P, B, 1, HOLD, 0.9)]),
        2: record([(P, B, 1, HOLD, 0.5)]),
    }
    # tp [0, 1, 1]: rec [0, .5, 1], prec [0, .5, 2/3]; envelope: .5 * 2/3 + .5 * 2/3.
    assert evaluate(dicts, records).role_ap_s1[HOLD] == pytest.approx(2 / 3)


def test_no_detections_give_zero_and_no_gt_gives_nan_left_out_of_the_mean():
    dicts = [image_dict(1, [(P, B, 1, HOLD)])]
    result = evaluate_vcoco(dicts, vcoco_metadata(), {1: record([(P, B, 1, HOLD, 0.9)])})
    ap = result.ap
    assert ap.role_ap_s1[HOLD] == 1.0 and np.isnan(ap.role_ap_s1[RIDE])  # ride: no GT
    assert result.flat()["AP_role_S1"] == 100.0  # only the class with GT counts
    dicts.append(image_dict(2, [(P, C, 2, RIDE)]))
    result = evaluate_vcoco(dicts, vcoco_metadata(), {1: record([(P, B, 1, HOLD, 0.9)])})
    assert result.ap.role_ap_s1[RIDE] == 0.0  # GT but no detection: 0, no crash
    assert result.flat()["AP_role_S1"] == pytest.approx(100 * (1 + 0) / 2)  # eat: no GT
    # No GT agent anywhere, detections only: every AP is NaN, nothing raises.
    result = evaluate_vcoco(
        [image_dict(3, [])], vcoco_metadata(), {3: record([(P, None, -1, 0, 0.5)])}
    )
    assert np.isnan(result.ap.role_ap_s1).all() and np.isnan(result.flat()["AP_agent"])


def test_agent_ap_groups_the_entries_of_one_person_and_action():
    dicts = [
        image_dict(1, [(P, B, 1, EAT_OBJ), (P, C, 2, EAT_INSTR)]),
        image_dict(2, [(Q, B, 1, EAT_OBJ)]),
    ]
    records = {
        1: record([(P, B, 1, EAT_OBJ, 0.9), (P, C, 2, EAT_INSTR, 0.8)]),
        2: record([(Q, B, 1, EAT_OBJ, 0.7)]),
    }
    ap = evaluate(dicts, records)
    assert ap.agent_ap[1] == 1.0  # one "eat" detection for P, not a duplicate false positive
    assert ap.role_ap_s1[EAT_OBJ] == 1.0
    # Q eats without an annotated instrument: it counts for "eat instr" too (npos per action).
    assert ap.num_gt_role[EAT_INSTR] == 2 and ap.role_ap_s1[EAT_INSTR] == 0.5


def test_vsrl_box_arithmetic():
    boxes, valid = gt_to_vsrl_boxes([[0, 0, 10, 10], [90.5, 5, 101, 20], [5, 5, 6, 50]], 100, 100)
    np.testing.assert_array_equal(
        boxes, np.float32([[0, 0, 9, 9], [90.5, 5, 99, 19], [5, 5, 5, 49]])
    )
    assert valid.tolist() == [True, True, False]  # a 1-pixel-wide box is dropped by vsrl_eval
    half = to_vsrl_boxes([[0, 0, 10, 5]])
    assert vsrl_iou(boxes[:1], half)[0] == np.float32(0.5)
    dicts = [image_dict(1, [([0, 0, 10, 10], B, 1, HOLD), ([5, 5, 6, 50], B, 1, HOLD)])]
    ap = evaluate(dicts, {1: record([([0, 0, 10, 5], B, 1, HOLD, 0.9)])})
    assert ap.num_gt_role[HOLD] == 1 and ap.role_ap_s1[HOLD] == 1.0  # IoU exactly 0.5 passes


def test_ties_keep_input_order():
    wrong = [70, 70, 99, 99]
    dicts = [image_dict(1, [(P, B, 1, HOLD)])]
    fp_first = record([(wrong, B, 1, HOLD, 0.5), (P, B, 1, HOLD, 0.5)])
    tp_first = record([(P, B, 1, HOLD, 0.5), (wrong, B, 1, HOLD, 0.5)])
    assert evaluate(dicts, {1: fp_first}).role_ap_s1[HOLD] == 0.5
    assert evaluate(dicts, {1: tp_first}).role_ap_s1[HOLD] == 1.0


def _random_vcoco(rng, num_images=40):
    dicts = []
    for i in range(num_images):
        people = [
            np.sort(rng.integers(0, 40, (2, 2)), axis=1) + [0, 2] for _ in range(rng.integers(0, 4))
        ]
        people = [[p[0, 0], p[1, 0], p[0, 1], p[1, 1]] for p in people]
        pairs, agent_only = [], []
        for person in people:
            for verb in rng.choice(4, size=rng.integers(1, 3), replace=False):
                if rng.random() < 0.25:
                    agent_only.append((person, int(verb)))
                else:
                    o = np.sort(rng.integers(0, 40, (2, 2)), axis=1) + [0, 2]
                    pairs.append(
                        (
                            person,
                            [o[0, 0], o[1, 0], o[0, 1], o[1, 1]],
                            1 + int(rng.integers(2)),
                            int(verb),
                        )
                    )
        dicts.append(image_dict(500 + i, pairs, agent_only=agent_only, width=42, height=42))
    return dicts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_equals_oracle_on_random_data(seed):
    rng = np.random.default_rng(seed)
    dicts = _random_vcoco(rng)
    classes = [(1, v) for v in range(4)] + [(2, v) for v in range(4)]
    records = random_records(
        dicts, classes, rng, per_image=20, positive_rate=0.6, score_decimals=1, no_object_rate=0.2
    )
    meta = vcoco_metadata()
    ap = evaluate_vcoco(dicts, meta, records).ap
    action_roles, actions = action_roles_of(VCOCO_TINY_CLASSES)
    db = oracle_vcocodb(dicts, action_roles, len(actions))
    dets = vcoco_detections(records, dicts, meta)
    for scenario, ours in (("scenario_1", ap.role_ap_s1), ("scenario_2", ap.role_ap_s2)):
        np.testing.assert_array_equal(ours, vcoco_oracle(db, dets, action_roles, scenario))
    np.testing.assert_array_equal(ap.agent_ap, vcoco_agent_oracle(db, dets, actions))
    assert 0 < np.nanmean(ap.role_ap_s1) < np.nanmean(ap.role_ap_s2) < 1
