"""UPT's proposal filter and the frozen entity stage (output contract, freezing, checkpoints)."""

import pytest
import torch
from detectron2.solver.build import get_default_optimizer_params
from detectron2.structures import ImageList
from detr_helpers import D_MODEL, build_tiny_detector, random_images, randomize_state_
from torch import nn

from rmlr.modeling.entity_detection.detr_weights import WeightConversionError, save_checkpoint
from rmlr.modeling.entity_detection.entity_detections import EntityDetections
from rmlr.modeling.entity_detection.entity_detector import FrozenEntityDetector
from rmlr.modeling.entity_detection.proposal_filter import ProposalFilter


def _boxes(n, start=0):
    """n disjoint 10 x 10 boxes (no NMS interaction)."""
    return torch.tensor([[20.0 * i, 0.0, 20.0 * i + 10, 10.0] for i in range(start, start + n)])


def test_filter_clamps_humans_and_objects_separately_with_top_up():
    # humans: 1 confident (0.9) + 3 weak; objects: 20 confident
    h_scores = torch.tensor([0.9, 0.15, 0.05, 0.01])
    o_scores = torch.linspace(0.95, 0.3, 20)
    boxes = torch.cat([_boxes(4), _boxes(20, start=4)])
    scores = torch.cat([h_scores, o_scores])
    labels = torch.cat([torch.zeros(4, dtype=torch.int64), torch.full((20,), 7)])
    keep = ProposalFilter()(boxes, scores, labels)
    assert keep[:3].tolist() == [0, 1, 2]  # top-up to 3 humans, best first, below 0.2 too
    assert keep[3:].tolist() == list(range(4, 19))  # 15 best objects
    assert (labels[keep[:3]] == 0).all() and (labels[keep[3:]] != 0).all()


def test_filter_keeps_confident_ones_in_range_and_all_when_few():
    scores = torch.tensor([0.3, 0.8, 0.1, 0.5, 0.25, 0.6, 0.21, 0.05])
    labels = torch.tensor([0, 0, 0, 0, 3, 3, 3, 3])
    keep = ProposalFilter()(_boxes(8), scores, labels)
    assert keep.tolist() == [1, 3, 0, 5, 4, 6]  # humans >= 0.2 (3), objects >= 0.2 (3)
    # only 2 objects exist: both kept whatever their score
    keep = ProposalFilter()(_boxes(3), torch.tensor([0.9, 0.01, 0.02]), torch.tensor([0, 5, 9]))
    assert keep.tolist() == [0, 2, 1]


def test_filter_nms_is_classwise_at_half_iou():
    boxes = torch.tensor(
        [[0, 0, 10, 10], [0, 0, 10, 9], [0, 0, 10, 10], [0, 0, 10, 4], [50, 0, 60, 10]],
        dtype=torch.float32,
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    labels = torch.tensor([2, 2, 4, 2, 2])
    keep = ProposalFilter(min_per_type=0)(boxes, scores, labels)
    # box 1 overlaps box 0 (IoU 0.9, same class): dropped; box 2 is another class; box 3 has
    # IoU 0.4 with box 0: kept
    assert sorted(keep.tolist()) == [0, 2, 3, 4]


@pytest.fixture
def detector():
    model = build_tiny_detector(with_criterion=False)
    randomize_state_(model.state_dict(), seed=0)
    return model


def _batch(entity):
    images = random_images([(96, 128), (128, 80)], seed=3)
    return entity.preprocess_image([{"image": im} for im in images])


def test_output_contract(detector):
    entity = FrozenEntityDetector(detector=detector, proposal_filter=ProposalFilter())
    images = _batch(entity)
    out = entity(images)
    assert isinstance(out, EntityDetections) and len(out) == 2
    # at inference each image runs at its own size, without the batch's padding
    alone = [
        detector.detr(ImageList(images.tensor[i : i + 1, :, :h, :w], [(h, w)]))
        for i, (h, w) in enumerate(images.image_sizes)
    ]
    raw = {k: torch.cat([a[k] for a in alone]) for k in ("pred_logits", "embeddings")}
    scores, labels = raw["pred_logits"].softmax(-1)[..., :-1].max(-1)
    for i, (h, w) in enumerate(images.image_sizes):
        r = out.boxes[i].shape[0]
        assert 1 <= r <= 30 and out.embeddings[i].shape == (r, D_MODEL)
        assert out.labels[i].dtype == torch.int64 and out.labels[i].max() < 80
        # every kept entity is one of the queries, with its score, label and decoder state
        match = (raw["embeddings"][i][None] == out.embeddings[i][:, None]).all(-1)
        q = match.float().argmax(1)
        assert match.any(1).all()
        assert torch.equal(out.scores[i], scores[i][q]) and torch.equal(out.labels[i], labels[i][q])
        assert out.boxes[i][:, 0::2].max() <= w * 1.5 and out.boxes[i][:, 1::2].max() <= h * 1.5
    assert out.features.shape[:2] == (2, 256) and out.memory.shape[:2] == (2, D_MODEL)
    assert out.feature_mask.shape == (2, *out.features.shape[-2:])


def test_frozen_detector_gets_no_gradient_no_optimizer_state_and_stays_in_eval(detector):
    entity = FrozenEntityDetector(detector=detector, proposal_filter=ProposalFilter())
    parent = nn.ModuleDict({"entity": entity, "head": nn.Linear(D_MODEL, 1)})
    parent.train()
    assert not entity.detector.training and not any(m.training for m in detector.modules())
    assert all(not p.requires_grad for p in detector.parameters())

    params = get_default_optimizer_params(parent)
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    images = _batch(entity)
    out = entity(images)
    loss = sum(parent["head"](e).sum() for e in out.embeddings) + out.memory.sum() * 0
    loss.backward()
    optimizer.step()
    frozen = {id(p) for p in detector.parameters()}
    assert all(p.grad is None for p in detector.parameters())
    assert not frozen & {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert not frozen & {id(p) for p in optimizer.state}
    assert len(optimizer.state) == 2  # the head's weight and bias

    # No graph even if someone re-enables gradients on the detector.
    detector.requires_grad_(True)
    out = entity(images)
    assert not out.memory.requires_grad and not out.embeddings[0].requires_grad
    # Eval mode: deterministic detections.
    assert torch.equal(entity(images).memory, out.memory)


def test_keep_dropout_follows_the_parent_mode(detector):
    entity = FrozenEntityDetector(
        detector=detector, proposal_filter=ProposalFilter(), keep_dropout=True
    )
    assert not detector.training
    entity.train()
    assert detector.training and detector.detr.transformer.training
    images = _batch(entity)
    assert not torch.equal(entity(images).memory, entity(images).memory)  # dropout active
    entity.eval()
    assert not detector.training


def test_checkpoint_is_loaded_strictly(detector, tmp_path):
    path = tmp_path / "detr.pth"
    save_checkpoint(detector.state_dict(), str(path))
    fresh = build_tiny_detector(with_criterion=False)
    entity = FrozenEntityDetector(
        detector=fresh, proposal_filter=ProposalFilter(), checkpoint=str(path)
    )
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in detector.state_dict().items())
    assert not any(p.requires_grad for p in entity.parameters())

    with pytest.raises(FileNotFoundError, match="missing.pth"):
        FrozenEntityDetector(
            detector=build_tiny_detector(),
            proposal_filter=ProposalFilter(),
            checkpoint=str(tmp_path / "missing.pth"),
        )
    state = dict(detector.state_dict())
    state["detr.class_embed.weight"] = state["detr.class_embed.weight"][:50]
    save_checkpoint(state, str(path))
    with pytest.raises(WeightConversionError, match=r"detr\.pth.*detr\.class_embed\.weight"):
        FrozenEntityDetector(
            detector=build_tiny_detector(), proposal_filter=ProposalFilter(), checkpoint=str(path)
        )
