"""HICO-DET AP: hand-computed cases of the official protocol and the vectorized path against the
per-detection oracle (``hoi_eval_oracle``) on random data with many ties and overlaps."""

import numpy as np
import pytest
from hoi_eval_helpers import (
    gt_pairs_from_dicts,
    hico_metadata,
    image_dict,
    image_objects_from_pairs,
    oracle_hico_inputs,
    random_records,
    record,
)
from hoi_eval_oracle import hico_det_oracle

from rmlr.evaluation import evaluate_hico_det
from rmlr.evaluation.hico_det_ap import RECALL_THRESHOLDS, official_iou, to_official_boxes

# HOI classes: 0 = (object 1, verb 0), 1 = (object 1, verb 1), 2 = (object 2, verb 0).
HOIS = [(1, 0), (1, 1), (2, 0)]
H, O = [10, 10, 50, 90], [40, 30, 80, 70]


def evaluate(dicts, records, hois=HOIS, rare=(2,)):
    return evaluate_hico_det(dicts, hico_metadata(hois, rare=rare), records).ap


def test_perfect_predictions_give_100():
    dicts = [
        image_dict(1, [(H, O, 1, 0), (H, O, 1, 1), ([0, 0, 20, 20], [5, 5, 30, 30], 2, 0)]),
        image_dict(2, [(H, O, 2, 0), ([1, 2, 3, 4], [2, 3, 4, 5], 1, 0)]),
    ]
    records = {
        d["image_id"]: record(
            [
                (
                    d["annotations"][s]["bbox"],
                    d["annotations"][o]["bbox"],
                    d["annotations"][o]["category_id"],
                    v,
                    0.9,
                )
                for s, o, v in d["interactions"]
            ]
        )
        for d in dicts
    }
    result = evaluate_hico_det(dicts, hico_metadata(HOIS, rare=[2]), records)
    # 11 x (1 / 11) accumulated as in MATLAB is 1.0000000000000002, hence approx.
    for setting in ("default", "known_object"):
        assert result.summary()[setting] == pytest.approx(
            {"full": 100, "rare": 100, "non_rare": 100}
        )


def test_duplicate_detection_is_a_false_positive():
    dicts = [image_dict(1, [(H, O, 1, 0)]), image_dict(2, [(H, O, 1, 0)])]
    records = {
        1: record([(H, O, 1, 0, 0.9), (H, O, 1, 0, 0.8)]),  # TP, duplicate -> FP
        2: record([(H, O, 1, 0, 0.7)]),  # TP
    }
    # tp [1, 0, 1]: rec [.5, .5, 1], prec [1, .5, 2/3] -> 6 thresholds at 1, 5 at 2/3.
    assert evaluate(dicts, records).ap_default[0] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)


def test_duplicate_of_covered_pair_is_false_positive_even_if_another_pair_overlaps():
    a_h, b_h, det_h = [10, 10, 50, 90], [14, 10, 54, 90], [11, 10, 51, 90]
    dicts = [image_dict(1, [(a_h, O, 1, 0), (b_h, O, 1, 0)])]
    # det_h overlaps A best (0.95) and B too (0.86 >= 0.5); A is covered first -> FP, not B.
    records = {1: record([(a_h, O, 1, 0, 0.9), (det_h, O, 1, 0, 0.8)])}
    assert evaluate(dicts, records).ap_default[0] == pytest.approx(6 / 11, abs=1e-15)


def test_wrong_verb_is_a_false_positive_of_the_predicted_class():
    dicts = [image_dict(1, [(H, O, 1, 0)]), image_dict(2, [(H, O, 1, 1)])]
    records = {1: record([(H, O, 1, 1, 0.9)]), 2: record([(H, O, 1, 1, 0.5)])}
    ap = evaluate(dicts, records)
    assert ap.ap_default[0] == 0.0  # GT never detected
    assert ap.ap_default[1] == pytest.approx(6 / 11 * 0 + 11 * 0.5 / 11)  # tp [0, 1]


def test_iou_exactly_one_half_under_plus_one_convention_is_a_true_positive():
    gt_h = [0, 0, 10, 10]  # HICO [1, 1, 10, 10]: 100 pixels
    dicts = [image_dict(1, [(gt_h, O, 1, 0)]), image_dict(2, [(gt_h, O, 1, 0)])]
    half = [0, 0, 10, 5]  # HICO [1, 1, 10, 5]: 50 pixels, all inside -> IoU exactly 0.5
    below = [0, 0, 10, 4.99]
    assert official_iou(to_official_boxes([half]), to_official_boxes([gt_h]))[0] == 0.5
    ap = evaluate(dicts, {1: record([(half, O, 1, 0, 0.9)]), 2: record([(below, O, 1, 0, 0.8)])})
    assert ap.ap_default[0] == pytest.approx(6 / 11)  # tp [1, 0]: only the IoU-0.5 one


def test_official_iou_on_mapped_boxes_equals_continuous_iou():
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 50, (200, 2, 2)), axis=2).transpose(0, 2, 1).reshape(200, 4)
    b = np.sort(rng.uniform(0, 50, (200, 2, 2)), axis=2).transpose(0, 2, 1).reshape(200, 4)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    continuous = iw * ih / (area(a) + area(b) - iw * ih)
    np.testing.assert_allclose(
        official_iou(to_official_boxes(a), to_official_boxes(b)), continuous, atol=1e-12
    )


def test_images_without_gt_count_and_known_object_drops_them():
    dicts = [image_dict(1, [(H, O, 1, 0)]), image_dict(2, [])]
    records = {2: record([(H, O, 1, 0, 0.9)]), 1: record([(H, O, 1, 0, 0.8)])}
    ap = evaluate(dicts, records)
    assert ap.ap_default[0] == pytest.approx(0.5)  # FP on the empty image ranks first
    assert ap.ap_known_object[0] == pytest.approx(1.0)  # image 2 has no object 1: dropped


def test_known_object_keeps_images_with_the_object_of_another_class():
    dicts = [image_dict(1, [(H, O, 1, 0)]), image_dict(2, [(H, O, 1, 1)])]
    records = {1: record([(H, O, 1, 0, 0.8)]), 2: record([(H, O, 1, 0, 0.9)])}
    ap = evaluate(dicts, records)
    assert ap.ap_default[0] == ap.ap_known_object[0] == pytest.approx(0.5)


def test_empty_predictions_and_zero_gt_classes_give_zero():
    dicts = [image_dict(1, [(H, O, 1, 0)]), image_dict(2, [])]
    for records in ({}, {1: record([]), 2: record([])}):
        result = evaluate_hico_det(dicts, hico_metadata(HOIS, rare=[2]), records)
        assert result.ap.ap_default.tolist() == [0.0, 0.0, 0.0]
        assert result.summary()["default"] == {"full": 0.0, "rare": 0.0, "non_rare": 0.0}
    # A class without GT (class 2) scores 0 even with detections, and stays in the mean.
    result = evaluate_hico_det(
        dicts, hico_metadata(HOIS), {1: record([(H, O, 1, 0, 0.9), (H, O, 2, 0, 0.9)])}
    )
    assert result.ap.ap_default.tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert result.summary()["default"]["full"] == pytest.approx(100 / 3)
    # No GT pair anywhere, detections only: AP 0 everywhere, nothing raises.
    ap = evaluate([image_dict(3, [])], {3: record([(H, O, 1, 0, 0.9)])})
    assert ap.ap_default.tolist() == ap.ap_known_object.tolist() == [0.0, 0.0, 0.0]


def test_ties_keep_image_order_then_prediction_order():
    wrong = [60, 60, 99, 99]
    dicts = [image_dict(1, [(H, O, 1, 0)]), image_dict(2, [])]
    # Across images: the TP on image 1 (first in dataset order) ranks first.
    both = {1: record([(H, O, 1, 0, 0.5)]), 2: record([(H, O, 1, 0, 0.5)])}
    assert evaluate(dicts, both).ap_default[0] == pytest.approx(1.0)
    assert evaluate(dicts[::-1], both).ap_default[0] == pytest.approx(0.5)
    # Within an image: the record's order.
    fp_first = record([(wrong, O, 1, 0, 0.5), (H, O, 1, 0, 0.5)])
    tp_first = record([(H, O, 1, 0, 0.5), (wrong, O, 1, 0, 0.5)])
    assert evaluate(dicts, {1: fp_first}).ap_default[0] == pytest.approx(0.5)
    assert evaluate(dicts, {1: tp_first}).ap_default[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "num_gt,num_tp,expected", [(10, 7, 8 / 11), (5, 3, 7 / 11), (10, 6, 7 / 11)]
)
def test_eleven_point_thresholds_are_matlabs(num_gt, num_tp, expected):
    # Recall exactly 0.7 (7 of 10) or 0.6 (3 of 5) must pass t = 0.7 / 0.6 as in MATLAB's 0:0.1:1;
    # numpy.arange(0, 1.1, 0.1) has 0.7000000000000001 and would drop one threshold.
    assert RECALL_THRESHOLDS[6] == 0.6 and RECALL_THRESHOLDS[7] == 0.7
    assert np.arange(0, 1.1, 0.1)[7] != 0.7
    dicts = [image_dict(i, [(H, O, 1, 0)]) for i in range(num_gt)]
    records = {i: record([(H, O, 1, 0, 0.9)]) for i in range(num_tp)}
    assert evaluate(dicts, records).ap_default[0] == pytest.approx(expected, abs=1e-15)


def test_recall_of_exactly_three_tenths_misses_matlabs_t_0_3():
    # MATLAB: any((0:0.1:1) == 0.3) is false; its fourth threshold is 3 * 0.1. A class whose
    # recall stops at exactly 3/10 with precision 1 passes t = 0, 0.1, 0.2 only: AP = 3/11, where
    # thresholds k / 10 gave 4/11.
    assert RECALL_THRESHOLDS[3] == 3 * 0.1 != 0.3
    assert list(RECALL_THRESHOLDS[6:]) == [0.6, 0.7, 0.8, 0.9, 1.0]
    dicts = [image_dict(i, [(H, O, 1, 0)]) for i in range(10)]
    records = {i: record([(H, O, 1, 0, 0.9)]) for i in range(3)}
    assert evaluate(dicts, records).ap_default[0] == pytest.approx(3 / 11, abs=1e-15)
    # and 6 of 20 the same
    dicts = [image_dict(i, [(H, O, 1, 0)]) for i in range(20)]
    records = {i: record([(H, O, 1, 0, 0.9)]) for i in range(6)}
    assert evaluate(dicts, records).ap_default[0] == pytest.approx(3 / 11, abs=1e-15)


def _random_dataset(rng, num_images=40):
    hois = [(1, 0), (1, 1), (1, 2), (2, 0), (2, 2), (0, 1)]
    dicts = []
    for i in range(num_images):
        pairs = []
        for _ in range(rng.integers(0, 6)):
            obj, verb = hois[rng.integers(len(hois))]
            # Integer boxes in a small image: many overlapping, sometimes identical pairs.
            h = np.sort(rng.integers(0, 40, (2, 2)), axis=1)
            o = np.sort(rng.integers(0, 40, (2, 2)), axis=1)
            h[:, 1] += 1
            o[:, 1] += 1
            pairs.append(
                (
                    [h[0, 0], h[1, 0], h[0, 1], h[1, 1]],
                    [o[0, 0], o[1, 0], o[0, 1], o[1, 1]],
                    obj,
                    verb,
                )
            )
        dicts.append(image_dict(100 + i, pairs, width=41, height=41))
    return dicts, hois


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_equals_oracle_on_random_data(seed):
    rng = np.random.default_rng(seed)
    dicts, hois = _random_dataset(rng)
    records = random_records(dicts, hois, rng, per_image=25, positive_rate=0.6, score_decimals=1)
    del records[dicts[3]["image_id"]]  # an image without any prediction record
    meta = hico_metadata(hois, num_objects=3, num_verbs=3)
    ap = evaluate_hico_det(dicts, meta, records).ap
    gt_pairs = gt_pairs_from_dicts(dicts, hois)
    gt_all, det_all = oracle_hico_inputs(gt_pairs, records, dicts, hois)
    objects = [o for o, _ in hois]
    ap_def, rec_def = hico_det_oracle(gt_all, det_all, objects)
    ap_ko, rec_ko = hico_det_oracle(
        gt_all, det_all, objects, image_objects_from_pairs(gt_pairs, hois, 3)
    )
    assert ap.ap_default.tolist() == ap_def  # bit-identical
    assert ap.ap_known_object.tolist() == ap_ko
    assert ap.recall_default.tolist() == rec_def and ap.recall_known_object.tolist() == rec_ko
    assert 0 < np.mean(ap_def) < 1 and np.mean(ap_ko) >= np.mean(ap_def)
