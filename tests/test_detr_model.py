"""DETR's parts (position embedding, backbone layout, masks) and DETRDetector's Detectron2
contract (inference Instances, training losses, optimizer groups)."""

import math

import pytest
import torch
from detectron2.structures import Boxes, Instances
from detr_helpers import LAYERS, QUERIES, build_tiny_detector, random_images, randomize_state_
from torchvision.ops import box_convert

from rmlr.modeling.entity_detection.detr import get_detr_optimizer_params
from rmlr.modeling.entity_detection.detr_backbone import build_detr_resnet
from rmlr.modeling.entity_detection.position_encoding import PositionEmbeddingSine

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_position_embedding_matches_the_formula():
    mask = torch.zeros((1, 2, 3), dtype=torch.bool)
    pos = PositionEmbeddingSine(num_pos_feats=4)(mask)
    assert pos.shape == (1, 8, 2, 3)
    for i in range(2):
        for j in range(3):
            y, x = (i + 1) / 2 * 2 * math.pi, (j + 1) / 3 * 2 * math.pi  # normalised, x 2 pi
            expected = []
            for p in (y, x):  # y channels first; dim_t = 10000^(2 floor(k / 2) / 4)
                expected += [math.sin(p), math.cos(p), math.sin(p / 100), math.cos(p / 100)]
            assert torch.allclose(pos[0, :, i, j], torch.tensor(expected), atol=1e-5)


def test_position_embedding_ignores_padding():
    small = torch.zeros((1, 2, 3), dtype=torch.bool)
    padded = torch.ones((1, 4, 5), dtype=torch.bool)
    padded[:, :2, :3] = False
    embed = PositionEmbeddingSine(num_pos_feats=8)
    assert torch.allclose(embed(small), embed(padded)[:, :, :2, :3], atol=1e-6)


@pytest.mark.parametrize("dc5", [False, True])
def test_backbone_follows_torchvision_layout(dc5):
    backbone = build_detr_resnet(num_blocks_per_stage=(1, 1, 1, 2), dc5=dc5)
    first, second = backbone.res5[0], backbone.res5[1]
    assert first.conv1.stride == (1, 1)  # stride in the 3x3, as torchvision
    assert first.conv2.stride == ((1, 1) if dc5 else (2, 2))
    assert first.conv2.dilation == (1, 1)  # torchvision keeps dilation 1 in the first DC5 block
    assert second.conv2.dilation == ((2, 2) if dc5 else (1, 1))
    assert second.conv2.padding == ((2, 2) if dc5 else (1, 1))
    assert backbone.output_shape()["res5"].stride == (16 if dc5 else 32)
    assert backbone.output_shape()["res5"].channels == 2048
    frozen = {n.split(".")[0] for n, p in backbone.named_parameters() if not p.requires_grad}
    trainable = {n.split(".")[0] for n, p in backbone.named_parameters() if p.requires_grad}
    assert frozen == {"stem", "res2"} and trainable == {"res3", "res4", "res5"}


def test_feature_mask_is_the_resized_image_mask():
    model = build_tiny_detector().eval()
    images = random_images([(64, 96), (96, 64)])
    with torch.no_grad():
        out = model.detr(model.preprocess_image([{"image": im} for im in images]))
    assert out["features"].shape == (2, 256, 3, 3)
    assert out["memory"].shape == (2, 64, 3, 3) and out["embeddings"].shape == (2, QUERIES, 64)
    # nearest resize of the 96 x 96 padding mask: feature row/col k samples pixel 32 k
    expected0 = torch.tensor([[0, 0, 0], [0, 0, 0], [1, 1, 1]], dtype=torch.bool)
    assert torch.equal(out["feature_mask"][0], expected0)
    assert torch.equal(out["feature_mask"][1], expected0.T)
    assert "aux_outputs" not in out


@pytest.mark.parametrize("device", DEVICES)
def test_inference_returns_postprocessed_instances_in_original_size(device):
    model = build_tiny_detector().eval().to(device)
    randomize_state_(model.state_dict(), seed=0)
    images = random_images([(64, 96), (80, 64)], seed=1)
    inputs = [
        {"image": images[0], "height": 128, "width": 192},  # the mapper resized by 0.5
        {"image": images[1]},  # no original size: the input size is used
    ]
    with torch.no_grad():
        results = model(inputs)
        raw = model.detr(model.preprocess_image(inputs))
    scores, labels = raw["pred_logits"].softmax(-1)[..., :-1].max(-1)
    for i, (h, w) in enumerate([(128, 192), (80, 64)]):
        inst = results[i]["instances"]
        assert isinstance(inst, Instances) and inst.image_size == (h, w)
        assert len(inst) == QUERIES  # score_thresh 0 keeps every query
        boxes = box_convert(raw["pred_boxes"][i], "cxcywh", "xyxy") * torch.tensor(
            [w, h, w, h], device=device
        )
        expected = Boxes(boxes)
        expected.clip((h, w))
        assert torch.allclose(inst.pred_boxes.tensor, expected.tensor, atol=1e-3)
        assert torch.equal(inst.scores, scores[i]) and torch.equal(inst.pred_classes, labels[i])

    model.score_thresh = scores[0].median().item()
    with torch.no_grad():
        kept = model(inputs[:1])[0]["instances"]
    assert len(kept) == int((scores[0] > model.score_thresh).sum()) < QUERIES
    assert (kept.scores > model.score_thresh).all()


def _training_inputs(device="cpu"):
    images = random_images([(64, 96), (96, 80)], seed=2)
    inputs = []
    for image, boxes, classes in zip(
        images, [[[4, 6, 40, 50], [50, 10, 90, 60]], [[10, 10, 70, 90]]], [[0, 56], [0]]
    ):
        inst = Instances(tuple(image.shape[-2:]))
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.gt_classes = torch.tensor(classes)
        inputs.append({"image": image.to(device), "instances": inst})
    return inputs


@pytest.mark.parametrize("device", DEVICES)
def test_training_returns_only_weighted_losses_and_trains_the_right_parts(device):
    model = build_tiny_detector().train().to(device)
    losses = model(_training_inputs(device))
    names = {"loss_ce", "loss_bbox", "loss_giou"}
    assert set(losses) == names | {f"{n}_{i}" for n in names for i in range(LAYERS - 1)}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = {n: p.grad is not None for n, p in model.named_parameters()}
    assert all(grads[n] for n in grads if n.startswith(("detr.transformer", "detr.class_embed")))
    assert grads["detr.backbone.res3.0.conv1.weight"]
    assert not any(
        grads[n] for n in grads if n.startswith(("detr.backbone.stem", "detr.backbone.res2"))
    )
    assert "pixel_mean" not in model.state_dict()


def test_prepare_targets_normalises_by_the_unpadded_image():
    inst = Instances((100, 200))
    inst.gt_boxes = Boxes(torch.tensor([[20.0, 10.0, 60.0, 50.0]]))
    inst.gt_classes = torch.tensor([3])
    (target,) = build_tiny_detector().prepare_targets([inst])
    assert torch.allclose(target["boxes"], torch.tensor([[0.2, 0.3, 0.2, 0.4]]))
    assert target["labels"].tolist() == [3]


def test_optimizer_groups_give_the_backbone_its_lr_and_skip_frozen_weights():
    model = build_tiny_detector()
    groups = get_detr_optimizer_params(model, backbone_lr=1e-5)
    other, backbone = groups
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(other["params"]) + len(backbone["params"]) == len(trainable)
    assert backbone["lr"] == 1e-5 and "lr" not in other
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].startswith("detr.backbone.res") for p in backbone["params"])
    assert not any(names[id(p)].startswith("detr.backbone") for p in other["params"])
    assert not any(names[id(p)].startswith("detr.backbone.stem") for p in backbone["params"])
