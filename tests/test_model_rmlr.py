"""The RmLR meta-architecture: loss contract, edge-case images, gradient flow, inference output,
a short training run on the synthetic dataset with the tiny DETR, and inference without
``transformers``."""

import copy
import importlib.util
import os
import subprocess
import sys

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.structures import Boxes, ImageList, Instances
from detectron2.utils.events import EventStorage
from model_helpers import tiny_irm
from torch import nn

import rmlr  # noqa: F401  (registers datasets and meta-architectures)
from rmlr.data import SYNTHETIC_VERBS
from rmlr.modeling.cross_modal_learning.alignment import AlignmentBranch, CrossModalLearning
from rmlr.modeling.cross_modal_learning.text_teacher import MINILM_PACKAGE, TeacherOutput
from rmlr.modeling.entity_detection.entity_detections import EntityDetections
from rmlr.modeling.entity_detection.position_encoding import PositionEmbeddingSine
from rmlr.modeling.interactive_relation_encoder import InteractiveRelationEncoder
from rmlr.modeling.meta_arch.rmlr import LOSS_NAMES, RmLR

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
HAS_TEXT = all(importlib.util.find_spec(m) is not None for m in ("transformers", MINILM_PACKAGE))
needs_text = pytest.mark.skipif(not HAS_TEXT, reason="transformers or MiniLM not installed")

V, D, C = 5, 8, 6
VALID = [[0, 1]] + [[1, 2, 3, 4]] * 3  # person: 2 verbs; objects 1-3: 4 verbs


class FixedDetector(nn.Module):
    """Entity stage stand-in returning hand-built detections (one frozen parameter)."""

    def __init__(self, entities):
        super().__init__()
        self.entities = entities  # per image: list of (box, score, label)
        self.frozen = nn.Parameter(torch.zeros(1), requires_grad=False)

    def preprocess_image(self, batched_inputs):
        return ImageList.from_tensors([x["image"].float() for x in batched_inputs])

    def forward(self, images):
        n = len(images)
        g = torch.Generator().manual_seed(0)
        out = dict(boxes=[], scores=[], labels=[], embeddings=[])
        for ents in self.entities:
            out["boxes"].append(torch.tensor([e[0] for e in ents], dtype=torch.float).view(-1, 4))
            out["scores"].append(torch.tensor([e[1] for e in ents], dtype=torch.float))
            out["labels"].append(torch.tensor([e[2] for e in ents], dtype=torch.int64))
            out["embeddings"].append(torch.randn(len(ents), D, generator=g))
        h, w = images.tensor.shape[-2:]
        mask = torch.ones(n, h // 8, w // 8, dtype=torch.bool)
        for i, (ih, iw) in enumerate(images.image_sizes):
            mask[i, : -(-ih // 8), : -(-iw // 8)] = False
        return EntityDetections(
            **out,
            features=torch.randn(n, C, h // 8, w // 8, generator=g) + self.frozen,
            feature_mask=mask,
            memory=torch.zeros(n, D, h // 8, w // 8),
        )


class FixedTeacher(nn.Module):
    """Text-teacher stand-in (random fixed embeddings), for tests that need no real encoder."""

    def __init__(self, dim=7):
        super().__init__()
        self.embed_dim = dim

    def forward(self, hoi_texts):
        sentences = [s for t in hoi_texts for s in t["sentences"]]
        g = torch.Generator().manual_seed(len(sentences))
        counts = torch.tensor([len(t["sentences"]) for t in hoi_texts])
        offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
        length = max([3 * len(t["sentences"]) for t in hoi_texts], default=0)
        word_sentence = torch.full((len(hoi_texts), length), -1)
        for i, t in enumerate(hoi_texts):
            for j in range(len(t["sentences"])):
                word_sentence[i, 3 * j : 3 * j + 3] = int(offsets[i]) + j
        return TeacherOutput(
            sentence_embeddings=torch.randn(len(sentences), self.embed_dim, generator=g),
            sentence_offsets=offsets,
            word_embeddings=torch.randn(len(hoi_texts), length, self.embed_dim, generator=g),
            word_padding_mask=word_sentence < 0,
            word_sentence=word_sentence,
        )


def build_model(entities, *, ire=True, cml=True, teacher=None):
    torch.manual_seed(0)
    context = 6 if ire else 0
    irm = tiny_irm(num_verbs=V, context=context, unary_dim=D)
    ire_module = (
        InteractiveRelationEncoder(
            position_embedding=PositionEmbeddingSine(num_pos_feats=4),
            in_channels=C,
            embed_dim=8,
            num_heads=2,
            ffn_dim=16,
            output_dim=context,
            feature_stride=8,
        )
        if ire
        else None
    )
    cross_modal = None
    if cml:
        teacher = teacher or FixedTeacher()
        kw = dict(text_dim=teacher.embed_dim, hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=16)
        cross_modal = CrossModalLearning(
            ire_branch=AlignmentBranch(input_dim=context, **kw) if ire else None,
            irm_branch=AlignmentBranch(input_dim=16, **kw),
        )
    return RmLR(
        entity_detector=FixedDetector(entities),
        ire=ire_module,
        irm=irm,
        text_teacher=teacher if cml else None,
        cross_modal=cross_modal,
        num_verbs=V,
        valid_verbs_per_object=VALID,
    )


H1, H2 = [0.0, 0.0, 20.0, 30.0], [30.0, 0.0, 50.0, 30.0]
O1, O2 = [20.0, 10.0, 30.0, 20.0], [50.0, 5.0, 60.0, 25.0]


def image(h=40, w=64, gt_boxes=(), gt_classes=(), interactions=(), sentences=None):
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor(list(gt_boxes), dtype=torch.float).view(-1, 4))
    inst.gt_classes = torch.tensor(list(gt_classes), dtype=torch.int64)
    inter = torch.tensor(list(interactions), dtype=torch.int64).view(-1, 3)
    if sentences is None:
        sentences = [f"person verb{v} thing" for v in inter[:, 2].tolist()]
    return {
        "image": torch.zeros(3, h, w, dtype=torch.uint8),
        "height": 2 * h,
        "width": 2 * w,
        "instances": inst,
        "interactions": inter,
        "hoi_text": {
            "sentences": sentences,
            "interaction_to_sentence": torch.arange(len(sentences)),
        },
    }


# Entities of the hand-built images: a normal image with two matched GT triplets (one pair with two
# verbs), then the edge cases.
NORMAL = [(H1, 0.9, 0), (O1, 0.8, 1), (H2, 0.7, 0), (O2, 0.6, 2)]
NORMAL_GT = dict(
    gt_boxes=[H1, O1, H2, O2],
    gt_classes=[0, 1, 0, 2],
    interactions=[[0, 1, 2], [0, 1, 3], [2, 3, 4]],
)
EDGE_CASES = {
    "no_human": ([(O1, 0.8, 1), (O2, 0.6, 2)], {}),
    "one_entity": ([(H1, 0.9, 0)], {}),
    "no_entity": ([], {}),
    "no_gt_pair": ([(H1, 0.9, 0), (O1, 0.8, 1)], {}),
    "no_matched_pair": (
        [(H1, 0.9, 0), (O1, 0.8, 1)],
        dict(gt_boxes=[H2, O2], gt_classes=[0, 2], interactions=[[0, 1, 1]]),
    ),
}


def trainable(model):
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def test_training_loss_dict_and_gradient_flow():
    model = build_model([NORMAL]).train()
    with EventStorage() as storage:
        losses = model([image(**NORMAL_GT)])
        metrics = storage.latest()
    assert set(losses) == set(LOSS_NAMES)
    assert all(v.dim() == 0 and torch.isfinite(v) and v.item() > 0 for v in losses.values())
    assert {"rmlr/positives", "rmlr/matched_pairs", "rmlr/pairs_per_image"} <= set(metrics)
    assert metrics["rmlr/positives"][0] == 3 and metrics["rmlr/matched_pairs"][0] == 2
    sum(losses.values()).backward()
    for prefix in ("ire.", "irm.", "cross_modal.ire_branch.", "cross_modal.irm_branch."):
        grads = [p.grad for n, p in trainable(model).items() if n.startswith(prefix)]
        assert grads and all(g is not None for g in grads)
        assert any(g.abs().sum() > 0 for g in grads), prefix
    assert model.entity_detector.frozen.grad is None


@pytest.mark.parametrize(
    "term,reaches",
    [
        ("loss_word_irm", ("irm.competitive_layers.", "irm.fusion.", "ire.")),
        ("loss_word_ire", ("ire.",)),
        ("loss_sentence_irm", ("irm.competitive_layers.", "irm.fusion.", "ire.")),
        ("loss_sentence_ire", ("ire.",)),
    ],
)
def test_each_alignment_term_alone_reaches_the_visual_model(term, reaches):
    """Each term's gradient reaches the features the verb classifier reads (O^v: the IRM's
    competitive layers and fusion, and the IRE under them), not only its own branch."""
    model = build_model([NORMAL]).train()
    torch.manual_seed(0)
    model([image(**NORMAL_GT)])[term].backward()
    for prefix in reaches:
        grads = [p.grad for n, p in trainable(model).items() if n.startswith(prefix)]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), prefix
    assert all(
        p.grad is None for n, p in trainable(model).items() if n.startswith("irm.classifier")
    )


def test_alignment_weights_scale_their_terms():
    model = build_model([NORMAL]).train()
    torch.manual_seed(1)
    base = model([image(**NORMAL_GT)])
    model.loss_weights = {k: 2 * v for k, v in model.loss_weights.items()}
    torch.manual_seed(1)
    doubled = model([image(**NORMAL_GT)])
    for k in LOSS_NAMES:
        assert doubled[k].item() == pytest.approx(2 * base[k].item(), rel=1e-4)


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_case_images_are_finite_and_keep_every_parameter_in_the_graph(case):
    entities, gt = EDGE_CASES[case]
    for alone in (True, False):  # the edge image alone, and next to a normal image
        ents = [entities] if alone else [entities, NORMAL]
        inputs = [image(**gt)] if alone else [image(**gt), image(**NORMAL_GT)]
        model = build_model(ents).train()
        losses = model(inputs)
        assert set(losses) == set(LOSS_NAMES)
        assert all(torch.isfinite(v) for v in losses.values()), losses
        if alone:
            assert all(v.item() == 0 for k, v in losses.items() if k != "loss_hoi")
        sum(losses.values()).backward()
        missing = [n for n, p in trainable(model).items() if p.grad is None]
        assert not missing  # distributed data parallel needs every parameter used
        model.eval()
        out = model(inputs)
        assert len(out) == len(inputs)


@pytest.mark.parametrize("ire,cml", [(False, False), (True, False), (False, True)])
def test_ablated_models_train_and_infer(ire, cml):
    model = build_model([NORMAL], ire=ire, cml=cml).train()
    losses = model([image(**NORMAL_GT)])
    expected = {"loss_hoi"}
    if cml:
        expected |= {"loss_sentence_irm", "loss_word_irm"}
        expected |= {"loss_sentence_ire", "loss_word_ire"} if ire else set()
    assert set(losses) == expected
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in trainable(model).values())


def test_inference_contract_and_scores():
    model = build_model([NORMAL]).eval()
    inp = image(**NORMAL_GT)
    with torch.no_grad():
        (out,) = model([inp])
    inst = out["hoi_instances"]
    assert inst.image_size == (80, 128)  # (height, width) of the original image
    assert set(inst.get_fields()) == {
        "pred_subject_boxes",
        "pred_object_boxes",
        "pred_object_classes",
        "pred_verb_classes",
        "scores",
    }
    # pairs: (0,1) (0,2) (0,3) (2,0) (2,1) (2,3); valid verbs: person 2, objects 4 each
    assert len(inst) == 4 + 2 + 4 + 2 + 4 + 4
    assert torch.equal(inst.pred_subject_boxes.tensor[0], torch.tensor(H1) * 2)
    assert torch.equal(inst.pred_object_boxes.tensor[0], torch.tensor(O1) * 2)
    assert inst.pred_object_classes[:4].tolist() == [1] * 4
    assert inst.pred_verb_classes[:6].tolist() == [1, 2, 3, 4, 0, 1]
    # score = sigmoid(logit) * (s_h * s_o) ^ 2.8, bounded by the prior
    prior = (0.9 * 0.8) ** 2.8
    assert (inst.scores[:4] <= prior + 1e-6).all() and (inst.scores > 0).all()
    assert model.text_teacher is not None  # built, but inference never calls it


# --- the tiny configuration on the synthetic dataset ---------------------------------------------


def tiny_cfg():
    cfg = LazyConfig.load(TINY)
    cfg.model.entity_detector.checkpoint = ""
    cfg.dataloader.train.total_batch_size = 2
    return cfg


def control_detections(model, grid=(2, 3), person=0, cup=41):
    """A random tiny DETR detects nothing useful. Keep its computation (C5 map, decoder states,
    proposal filter) but overwrite its class and box outputs: the first 6 queries get the boxes
    of a 2 x 3 grid over the image and the label person (even q) or cup (odd q), the others no
    confident class, so every image has 3 humans and 3 cups. The entity stage stays frozen; the
    HOI stage sees real DETR features."""
    detr = model.entity_detector.detector.detr
    original = detr.forward
    rows, cols = grid

    def forward(images):
        out = original(images)
        n, q, k = out["pred_logits"].shape
        idx = torch.arange(q) % (rows * cols)
        boxes = torch.stack(
            [
                (idx % cols + 0.5) / cols,
                (idx // cols + 0.5) / rows,
                torch.full((q,), 0.8 / cols),
                torch.full((q,), 0.8 / rows),
            ],
            dim=1,
        )
        logits = torch.full((q, k), -10.0)
        logits[: rows * cols : 2, person] = 5.0
        logits[1 : rows * cols : 2, cup] = 5.0
        out["pred_logits"] = logits.expand(n, q, k).to(out["pred_logits"])
        out["pred_boxes"] = boxes.expand(n, q, 4).to(out["pred_boxes"])
        return out

    detr.forward = forward
    return model


def oracle_targets(model, batch):
    """Replace each image's GT by two detected humans with their nearest cups (verbs hold +
    look_at for the first, carry for the second), so pairs of the frozen detector match GT pairs:
    the test checks that the HOI stage learns, not detection."""
    with torch.no_grad():
        det = model.entity_detector(model.entity_detector.preprocess_image(batch))
    for x, boxes, labels in zip(batch, det.boxes, det.labels):
        h = torch.nonzero(labels == 0)[:2, 0].tolist()
        assert len(h) == 2 and labels.numel() == 6
        o = torch.nonzero(labels == 41)[:2, 0].tolist()
        keep = h + o
        x["instances"] = Instances(
            x["instances"].image_size, gt_boxes=Boxes(boxes[keep]), gt_classes=labels[keep]
        )
        hold, look_at, carry = (SYNTHETIC_VERBS.index(v) for v in ("hold", "look_at", "carry"))
        x["interactions"] = torch.tensor([[0, 2, hold], [0, 2, look_at], [1, 3, carry]])
        x["hoi_text"] = {
            "sentences": ["person hold cup", "person look at cup", "person carry cup"],
            "interaction_to_sentence": torch.tensor([0, 1, 2]),
        }
    return batch


@needs_text
def test_tiny_config_trains_on_synthetic_data_and_loss_decreases():
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = control_detections(instantiate(cfg.model))
    batch = oracle_targets(model, next(iter(instantiate(cfg.dataloader.train))))
    model.train()
    cfg.optimizer.params.model = model
    cfg.optimizer.lr = 1e-3
    optimizer = instantiate(cfg.optimizer)
    detr_before = copy.deepcopy(model.entity_detector.state_dict())
    history = []
    for _ in range(8):
        losses = model(batch)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    assert set(history[0]) == set(LOSS_NAMES) and all(v > 0 for v in history[0].values())
    first, last = sum(history[0].values()), sum(history[-1].values())
    print("loss history", [round(sum(h.values()), 4) for h in history], history[0], history[-1])
    assert last < 0.7 * first, history
    # the frozen DETR and the teacher got no gradient and did not change
    assert all(p.grad is None for p in model.entity_detector.parameters())
    assert all(p.grad is None for p in model.text_teacher._encoder.parameters())
    after = model.entity_detector.state_dict()
    assert all(torch.equal(detr_before[k], after[k]) for k in after)


INFER_SCRIPT = r"""
import sys, torch
sys.modules["transformers"] = None  # any import of transformers now fails
from detectron2.config import LazyConfig, instantiate
import rmlr
from test_model_rmlr import control_detections
config, weights, batch, out = sys.argv[1:]
cfg = LazyConfig.load(config)
cfg.model.entity_detector.checkpoint = ""
model = control_detections(instantiate(cfg.model)).eval()
model.load_state_dict(torch.load(weights, weights_only=True))
with torch.no_grad():
    results = model(torch.load(batch, weights_only=False))
assert not model.text_teacher.is_loaded and sys.modules["transformers"] is None
torch.save([r["hoi_instances"].get_fields() for r in results], out)
"""


def test_inference_is_identical_without_transformers(tmp_path):
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = control_detections(instantiate(cfg.model)).eval()
    batch = next(iter(instantiate(cfg.dataloader.test)))
    files = {name: tmp_path / f"{name}.pth" for name in ("model", "batch", "out", "script")}
    torch.save(model.state_dict(), files["model"])
    torch.save(batch, files["batch"])
    files["script"].write_text(INFER_SCRIPT)
    with torch.no_grad():
        expected = [o["hoi_instances"].get_fields() for o in model(batch)]
    assert not model.text_teacher.is_loaded
    proc = subprocess.run(
        [sys.executable, str(files["script"]), TINY]
        + [str(files[k]) for k in ("model", "batch", "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(
            os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(__file__)), OMP_NUM_THREADS="1"
        ),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    blocked = torch.load(files["out"], weights_only=False)
    for a, b in zip(expected, blocked):
        assert a.keys() == b.keys()
        for k in a:
            ta = a[k].tensor if isinstance(a[k], Boxes) else a[k]
            tb = b[k].tensor if isinstance(b[k], Boxes) else b[k]
            assert torch.equal(ta, tb), k
    assert sum(len(r["scores"]) for r in expected) > 0
