"""Oracle-pair diagnostics (verb top-1 accuracy and verb mAP with GT boxes) on constructed cases
and on the tiny model; the IRE on a finer backbone map (res3 of the tiny DETR): shapes and a
training step."""

import os

import numpy as np
import pytest
import torch
from detectron2.config import LazyConfig, instantiate

import rmlr  # noqa: F401  (registers datasets and meta-architectures)
from rmlr.evaluation.oracle_pairs import (
    average_precision,
    evaluate_oracle_pairs,
    oracle_detections,
    oracle_pair_metrics,
    oracle_pair_outputs,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr")
SHIPPED_DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")


def test_average_precision_by_hand():
    # positives at ranks 1 and 3: (1/1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx(5 / 6)
    assert average_precision([0.1, 0.9], [1, 0]) == pytest.approx(0.5)
    assert np.isnan(average_precision([0.5], [0]))


def test_oracle_pair_metrics_constructed_case():
    # 4 pairs, 3 verbs. Verb 2 is invalid for pair 1's object (its large logit must not count).
    logits = torch.tensor(
        [
            [3.0, 1.0, 0.0],  # GT {0}: top-1 0, correct
            [0.0, 1.0, 9.0],  # GT {0}: valid {0, 1}, top-1 1, wrong
            [0.0, 2.0, 1.0],  # GT {1, 2}: top-1 1, correct
            [5.0, 0.0, 0.0],  # no GT verb: not counted in top-1, a negative for the APs
        ]
    )
    valid = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 1]], dtype=torch.bool)
    labels = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 1, 1], [0, 0, 0]], dtype=torch.bool)
    m = oracle_pair_metrics(logits, valid, labels)
    assert m["num_interacting_pairs"] == 3 and m["num_pairs"] == 4
    assert m["verb_top1"] == pytest.approx(200 / 3)
    # verb 0 scores: p3 5 (neg), p0 3 (pos), p1 0 (pos), p2 0 (neg; ties keep pair order)
    ap0 = (1 / 2 + 2 / 3) / 2
    ap1 = 1.0  # p2 (2.0) is the top score of verb 1
    ap2 = 1.0  # pairs 0, 2, 3 valid; p2 has the top score 1.0
    assert m["verb_ap"] == pytest.approx([100 * ap0, 100 * ap1, 100 * ap2])
    assert m["verb_map"] == pytest.approx(100 * (ap0 + ap1 + ap2) / 3)
    # GT pairs only (pairs 0-2): verb 0 p0 3 (pos), p1 0 (pos), p2 0 (neg) -> AP 1
    assert m["verb_ap_gt_pairs"] == pytest.approx([100.0, 100.0, 100.0])
    ignored = oracle_pair_metrics(logits, valid, labels, ignore_verbs=[1])
    assert np.isnan(ignored["verb_ap"][1]) and ignored["num_verbs_evaluated"] == 2
    assert ignored["verb_map"] == pytest.approx(100 * (ap0 + ap2) / 2)
    assert ignored["verb_top1"] == m["verb_top1"]
    with pytest.raises(ValueError, match="shapes differ"):
        oracle_pair_metrics(logits, valid[:2], labels)


@pytest.fixture(scope="module")
def tiny_model_and_batch():
    cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr_tiny_synthetic.py"))
    cfg.model.entity_detector.checkpoint = SHIPPED_DETR
    cfg.model.text_teacher = None
    cfg.model.cross_modal = None
    cfg.dataloader.test.num_workers = 0
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    loader = instantiate(cfg.dataloader.test)
    batch = next(iter(loader))
    return cfg, model, loader, batch


def test_oracle_pairs_use_gt_boxes_and_label_every_gt_interaction(tiny_model_and_batch):
    _, model, _, batch = tiny_model_and_batch
    images = model.entity_detector.preprocess_image(batch)
    boxes = [x["instances"].gt_boxes.tensor for x in batch]
    classes = [x["instances"].gt_classes for x in batch]
    det = oracle_detections(model.entity_detector, images, boxes, classes)
    for b, d in zip(boxes, det.boxes):
        torch.testing.assert_close(d, b)
    # each GT box takes the state of the DETR query that overlaps it most
    out = model.entity_detector.detector.detr(images)
    assert any(torch.equal(det.embeddings[0][0], q) for q in out["embeddings"][0])
    res = oracle_pair_outputs(model, batch)
    distinct = {
        (i, h, o, v)
        for i, x in enumerate(batch)
        for h, o, v in torch.as_tensor(x["interactions"]).view(-1, 3).tolist()
    }
    assert int(res["labels"].sum()) == len(distinct) > 0
    assert res["logits"].shape == res["valid"].shape == res["labels"].shape
    assert res["logits"].shape[1] == 8
    metrics = evaluate_oracle_pairs(model, [batch])
    assert 0 <= metrics["verb_top1"] <= 100 and 0 < metrics["verb_map"] <= 100
    assert not model.training


def test_ire_on_res3_shapes_and_training_step(tiny_model_and_batch):
    cfg = LazyConfig.load(os.path.join(CONFIGS, "rmlr_tiny_synthetic_ire_res3.py"))
    cfg.model.entity_detector.checkpoint = SHIPPED_DETR
    cfg.model.text_teacher = None
    cfg.model.cross_modal = None
    cfg.dataloader.train.total_batch_size = 2
    cfg.dataloader.train.num_workers = 0
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    assert model.ire_in_feature == "res3" and model.ire.input_proj.in_features == 64
    batch = next(iter(instantiate(cfg.dataloader.train)))
    images = model.entity_detector.preprocess_image(batch)
    det = model.entity_detector(images)
    res3, mask3 = model.ire_input(det)
    c5 = det.features
    assert res3.shape[1] == 64 and c5.shape[1] == 256
    # stride 8 vs 16: twice C5's size, less one where an unpadded group's side (pad-free batched
    # inference runs each image size alone) is an odd multiple of 8
    assert all(2 * c - 1 <= r <= 2 * c for r, c in zip(res3.shape[-2:], c5.shape[-2:]))
    assert mask3.shape == (len(batch), *res3.shape[-2:])
    h, w = images.image_sizes[0]
    valid_h, valid_w = (~mask3[0]).sum(0).max(), (~mask3[0]).sum(1).max()
    assert abs(valid_h - h / 8) <= 1 and abs(valid_w - w / 8) <= 1  # the image's cells
    model.train()
    losses = model(batch)
    losses["loss_hoi"].backward()
    assert torch.isfinite(losses["loss_hoi"])
    assert model.ire.input_proj.weight.grad.abs().sum() > 0
    # a model that asks for a map the backbone does not output fails naming the key
    _, plain_c5, _, _ = tiny_model_and_batch
    plain_c5.ire_in_feature = "res4"
    with pytest.raises(KeyError, match="out_features"):
        plain_c5.ire_input(det.__class__(**{**det.__dict__, "extra_features": {}}))
    plain_c5.ire_in_feature = "res5"
