"""DETR's Hungarian matcher and set criterion, on hand-made predictions."""

import math

import pytest
import torch
import torch.nn.functional as F

from rmlr.modeling.entity_detection import detr_criterion
from rmlr.modeling.entity_detection.detr_criterion import HungarianMatcher, SetCriterion

K = 5  # classes; no-object = 5


def _outputs(logits, boxes):
    return {
        "pred_logits": torch.tensor(logits).unsqueeze(0),
        "pred_boxes": torch.tensor(boxes)[None],
    }


def _confident(label, k=K, value=8.0):
    row = [0.0] * (k + 1)
    row[label] = value
    return row


def test_matcher_finds_the_right_permutation():
    targets = [
        {
            "labels": torch.tensor([2, 0]),
            "boxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.4]]),
        }
    ]
    # query 0: background; query 1 predicts target 1; query 2 predicts target 0
    outputs = _outputs(
        [_confident(K), _confident(0), _confident(2)],
        [[0.5, 0.5, 0.1, 0.1], [0.7, 0.6, 0.3, 0.4], [0.3, 0.3, 0.2, 0.2]],
    )
    ((queries, tgts),) = HungarianMatcher()(outputs, targets)
    assert dict(zip(queries.tolist(), tgts.tolist())) == {1: 1, 2: 0}


def test_losses_match_hand_computation():
    targets = [{"labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.4, 0.4]])}]
    logits = [[0.1, 2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 3.0]]
    boxes = [[0.5, 0.5, 0.2, 0.4], [0.1, 0.1, 0.05, 0.05]]  # query 0 matches (half the width)
    criterion = SetCriterion(num_classes=K, matcher=HungarianMatcher(), eos_coef=0.1)
    losses = criterion(_outputs(logits, boxes), targets)
    assert set(losses) == {"loss_ce", "loss_bbox", "loss_giou"}

    logp = F.log_softmax(torch.tensor(logits), -1)
    ce = (1.0 * -logp[0, 1] + 0.1 * -logp[1, K]) / (1.0 + 0.1)  # weighted mean
    assert losses["loss_ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert losses["loss_bbox"].item() == pytest.approx(5.0 * 0.2, rel=1e-5)  # |0.2 - 0.4| x 5
    giou = 0.5  # pred inside target: IoU = 0.08 / 0.16, enclosing = union
    assert losses["loss_giou"].item() == pytest.approx(2.0 * (1 - giou), rel=1e-5)


def test_aux_losses_and_empty_targets():
    outputs = _outputs([_confident(K)] * 3, [[0.5, 0.5, 0.2, 0.2]] * 3)
    outputs["aux_outputs"] = [dict(outputs), dict(outputs)]
    targets = [{"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}]
    losses = SetCriterion(num_classes=K, matcher=HungarianMatcher())(outputs, targets)
    assert set(losses) == {
        f"{n}{s}" for n in ("loss_ce", "loss_bbox", "loss_giou") for s in ("", "_0", "_1")
    }
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_bbox"].item() == 0 and losses["loss_giou"].item() == 0
    assert losses["loss_ce"].item() == pytest.approx(
        -math.log(math.exp(8) / (math.exp(8) + K)), rel=1e-4
    )


def test_num_boxes_is_averaged_over_ranks(monkeypatch):
    """DETR divides box losses by the mean number of target boxes per rank."""
    targets = [{"labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.4, 0.4]])}]
    outputs = _outputs([_confident(1)], [[0.5, 0.5, 0.2, 0.4]])
    criterion = SetCriterion(num_classes=K, matcher=HungarianMatcher())
    local = criterion(outputs, targets)["loss_bbox"].item()

    class FakeDist:  # 2 ranks; the other rank has 3 boxes: mean = (1 + 3) / 2 = 2
        is_available = staticmethod(lambda: True)
        is_initialized = staticmethod(lambda: True)
        get_world_size = staticmethod(lambda: 2)

        @staticmethod
        def all_reduce(tensor):
            tensor.add_(3.0)

    monkeypatch.setattr(detr_criterion, "dist", FakeDist)
    assert criterion(outputs, targets)["loss_bbox"].item() == pytest.approx(local / 2)
