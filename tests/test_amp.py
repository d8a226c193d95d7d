"""Mixed-precision training: one full training step of the tiny RmLR (shipped tiny DETR, synthetic
data, offline MiniLM teacher) through the trainer's AMP path under CPU float16 and bfloat16
autocast gives finite losses and finite gradients on a batch whose images have unequal entity
counts (before the IRM encoded padding slots: float16 overflow, NaN losses), and the padding of
other images never changes an image's pair tokens."""

import os

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.utils.events import EventStorage
from model_helpers import tiny_irm
from test_model_rmlr import needs_text

import rmlr  # noqa: F401  (registers datasets and meta-architectures)
from rmlr.engine import build_trainer
from rmlr.modeling.entity_detection.entity_detections import EntityDetections
from rmlr.modeling.pairs import build_pairs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
SHIPPED_DETR = os.path.join(REPO, "projects", "RmLR", "weights", "detr_tiny_synthetic_pretrain.pth")


def _entity_counts(model, batch):
    with torch.no_grad():
        det = model.entity_detector(model.entity_detector.preprocess_image(batch))
    return [int(b.shape[0]) for b in det.boxes]


@pytest.fixture(scope="module")
def tiny_setup():
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = SHIPPED_DETR
    cfg.dataloader.train.total_batch_size = 4
    cfg.dataloader.train.num_workers = 0
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    loader = iter(instantiate(cfg.dataloader.train))
    for _ in range(5):
        batch = next(loader)
        counts = _entity_counts(model, batch)
        if len(set(counts)) > 1:
            break
    assert len(set(counts)) > 1, f"no batch with unequal entity counts: {counts}"
    return cfg, model.state_dict(), batch, counts


@needs_text
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_amp_training_step_is_finite_with_unequal_entity_counts(tiny_setup, dtype):
    cfg, state, batch, counts = tiny_setup
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    model.load_state_dict(state)
    model.train()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    cfg.train.amp.enabled = True
    cfg.train.amp.dtype = dtype
    trainer = build_trainer(cfg.train, model, optimizer, "cpu", data_loader=[batch] * 16)
    assert trainer.amp and trainer.amp_device == "cpu"
    assert trainer.amp_dtype == getattr(torch, dtype)
    scaler = trainer.grad_scaler
    assert (scaler is not None) == (dtype == "float16")
    before = {k: v.clone() for k, v in model.irm.state_dict().items()}
    history = []
    with EventStorage(0) as storage:
        # float16: GradScaler starts at 2^16 and skips the steps whose *scaled* gradients
        # overflow, halving the scale each time (its normal start-up); the losses of every step
        # must be finite (SimpleTrainer._write_metrics raises on a non-finite loss) and the
        # gradients of the step it takes must be finite.
        for step in range(16):
            scale = scaler.get_scale() if scaler is not None else None
            storage.iter = trainer.iter = step
            trainer.run_step()
            history.append({k: v.latest() for k, v in storage.histories().items() if "loss" in k})
            if scaler is None or scaler.get_scale() == scale:
                break
        else:
            pytest.fail(f"GradScaler skipped every step (scale {scaler.get_scale()})")
    print(dtype, "entity counts", counts, "steps", len(history), history[-1])
    assert {"loss_hoi", "loss_word_irm", "loss_sentence_irm"} <= set(history[-1])
    assert all(torch.isfinite(torch.tensor(v)) for h in history for v in h.values()), history
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert any(n.startswith("irm.spatial_encoder") for n in grads)
    assert any(n.startswith("irm.cooperative_layers") for n in grads)
    bad = [n for n, g in grads.items() if not torch.isfinite(g).all()]
    assert not bad, f"non-finite gradients ({dtype}): {bad[:5]}"
    after = model.irm.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after)


def _pairs(entities):
    """HOIPairs of images given as lists of (box, label), with random 8-d entity tokens."""
    g = torch.Generator().manual_seed(0)
    n = len(entities)
    det = EntityDetections(
        boxes=[torch.tensor([e[0] for e in ents], dtype=torch.float) for ents in entities],
        scores=[torch.ones(len(ents)) for ents in entities],
        labels=[torch.tensor([e[1] for e in ents]) for ents in entities],
        embeddings=[torch.randn(len(ents), 8, generator=g) for ents in entities],
        features=torch.zeros(n, 1, 2, 2),
        feature_mask=torch.zeros(n, 2, 2, dtype=torch.bool),
        memory=torch.zeros(n, 8, 2, 2),
    )
    return build_pairs(det, person_label=0)


def test_other_images_padding_does_not_change_pair_tokens():
    """Image A alone vs batched with a larger image B (A is then padded): A's pair tokens agree to
    1e-5 in float32, and stay finite under float16 autocast."""
    a = [([0.0, 0.0, 20.0, 30.0], 0), ([20.0, 10.0, 30.0, 20.0], 3)]
    b = a + [([30.0, 0.0, 50.0, 30.0], 0), ([50.0, 5.0, 60.0, 25.0], 2), ([1.0, 1.0, 9.0, 9.0], 1)]
    torch.manual_seed(0)
    irm = tiny_irm(num_verbs=4, context=0, unary_dim=8).eval()
    alone, both = _pairs([a]), _pairs([a, b])
    with torch.no_grad():
        tok_alone = irm.pair_tokens(alone, torch.tensor([[40, 64]]))
        tok_both = irm.pair_tokens(both, torch.tensor([[40, 64], [40, 64]]))
        torch.testing.assert_close(tok_both[: len(alone)], tok_alone, atol=1e-5, rtol=1e-5)
        with torch.autocast("cpu", dtype=torch.float16):
            half = irm.pair_tokens(both, torch.tensor([[40, 64], [40, 64]]))
    assert torch.isfinite(half).all()
