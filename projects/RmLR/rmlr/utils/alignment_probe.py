"""A probe of cross-modal learning: does an alignment loss need the image and the text?

Shape shorthand (extends :mod:`rmlr.modeling.cross_modal_learning.alignment`):
    P: pairs of a batch     D: width of the probed visual features (O^v or M^v)

The probe trains only one alignment branch (:class:`~rmlr.modeling.cross_modal_learning.alignment.
AlignmentBranch`) of the tiny RmLR on fixed, detached visual features, for a fixed budget, on one
loss term (word or sentence level), and measures on held-out images:

* ``real``: the held-out loss with the real visual features;
* ``noise``: the same training and evaluation with i.i.d. Gaussian noise of the features'
  per-channel mean and standard deviation in place of the features (fresh noise every step): the
  loss a text-only solution reaches. A loss that needs the image is clearly lower with the real
  features (``noise / real`` well above 1);
* ``shuffled``: the branch trained on real features, evaluated with the annotation texts moved to
  another image of the batch (image i gets image i+1's text, each pair the sub-sentence of the same
  rank in it): a loss that reads the text rises (``shuffled / real`` well above 1);
* ``grad_ratio``: ``||dL/dX|| / ||dL/dtheta||`` on held-out batches after training, X the visual
  features (what the IRE / IRM receive from this term), theta the branch's parameters: a branch
  whose last normalisation has collapsed passes no gradient to the features;
* ``spread``: the branch output's standard deviation across pairs (averaged over channels) over its
  root mean square: 0 for an output that is the same for every pair. The output is ``y =
  FFN_W(x)`` (anchored word level), the pair's contextualised feature ``x`` (the ``"paper"`` word
  level: the side its loss pulls), or ``FFN_T(x)`` (sentence level).

Features come from the tiny RmLR (``rmlr_tiny_synthetic.py``, the shipped pre-trained tiny DETR
as the frozen detector, IRE and IRM at their seeded random initialisation) on the synthetic
training images, resized as at test time, with the real text teacher (MiniLM, standardised
targets). :func:`collect_batches` runs the model once and captures what it hands to cross-modal
learning; :func:`probe` trains and measures. ``benchmarks/alignment_probe.py`` prints the numbers;
``tests/test_cross_modal_probe.py`` checks them.
"""

import math
import os
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence

import torch

from ..modeling.cross_modal_learning.alignment import AlignmentBranch, CrossModalLearning
from ..modeling.cross_modal_learning.text_teacher import TeacherOutput

__all__ = [
    "ProbeBatch",
    "collect_batches",
    "class_signal_features",
    "probe",
    "shuffle_texts",
    "TINY_DETR_WEIGHTS",
]

_PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The pre-trained tiny DETR shipped with the project.
TINY_DETR_WEIGHTS = os.path.join(_PROJECT, "weights", "detr_tiny_synthetic_pretrain.pth")
TINY_CONFIG = os.path.join(_PROJECT, "configs", "rmlr", "rmlr_tiny_synthetic.py")


@dataclass
class ProbeBatch:
    """What RmLR hands to cross-modal learning for one batch (all detached).

    Attributes:
        features: ``{"irm": (P, D) O^v, "ire": (P, D') M^v}``.
        image_index: (P,) int64.
        num_images: N.
        pair_sentence: (C, 2) int64 (pair, batch-level sub-sentence) couples.
        teacher: the teacher's output for the batch's texts.
        hoi_texts: the N ``hoi_text`` dicts.
    """

    features: Dict[str, torch.Tensor]
    image_index: torch.Tensor
    num_images: int
    pair_sentence: torch.Tensor
    teacher: TeacherOutput
    hoi_texts: List[Dict]


def collect_batches(
    *, num_images: int = 160, batch_size: int = 8, seed: int = 0, config: str = TINY_CONFIG
) -> "tuple[List[ProbeBatch], torch.nn.Module]":
    """Run the tiny RmLR (training mode, no gradient) on the first ``num_images`` synthetic
    training images and capture the inputs of its cross-modal learning.

    Returns:
        (batches, teacher): the batches in dataset order and the loaded text teacher.
    """
    from detectron2.config import LazyConfig, instantiate
    from detectron2.data import DatasetCatalog

    from ..data import HOIDatasetMapper, build_upt_augmentation

    cfg = LazyConfig.load(config)
    cfg.model.entity_detector.checkpoint = TINY_DETR_WEIGHTS
    torch.manual_seed(seed)
    model = instantiate(cfg.model).train()
    dataset = cfg.dataloader.train.dataset.names
    mapper = HOIDatasetMapper.for_dataset(
        dataset,
        is_train=True,
        augmentations=build_upt_augmentation(is_train=False, test_size=160, max_size=320),
    )
    records = [r for r in DatasetCatalog.get(dataset) if r["interactions"]][:num_images]
    captured = []

    def capture(_module, _args, kwargs):
        captured.append({k: v for k, v in kwargs.items()})

    handle = model.cross_modal.register_forward_pre_hook(capture, with_kwargs=True)
    batches = []
    try:
        with torch.no_grad():
            for start in range(0, len(records), batch_size):
                inputs = [mapper(r) for r in records[start : start + batch_size]]
                captured.clear()
                model(inputs)
                kw = captured[0]
                features = {"irm": kw["irm_features"].detach()}
                if kw.get("ire_features") is not None:
                    features["ire"] = kw["ire_features"].detach()
                batches.append(
                    ProbeBatch(
                        features=features,
                        image_index=kw["image_index"],
                        num_images=kw["num_images"],
                        pair_sentence=kw["pair_sentence"],
                        teacher=kw["teacher"],
                        hoi_texts=[x["hoi_text"] for x in inputs],
                    )
                )
    finally:
        handle.remove()
    return batches, model.text_teacher


def class_signal_features(
    batches: Sequence[ProbeBatch],
    *,
    dim: int = 64,
    noise_std: float = 1.0,
    seed: int = 0,
    side: str = "irm",
) -> List[ProbeBatch]:
    """The same batches with a fixed feature set of known signal in place of the model's features:
    a pair's feature is the mean of one random unit-variance vector per distinct sub-sentence it
    matches (the HOI class it shows) plus i.i.d. Gaussian noise of standard deviation
    ``noise_std``; an unmatched pair's is the noise alone. Pairs, texts and teacher outputs are the
    real ones."""
    g = torch.Generator().manual_seed(seed)
    codes: Dict[str, torch.Tensor] = {}
    out = []
    for b in batches:
        sentences = [s for t in b.hoi_texts for s in t["sentences"]]
        for text in sentences:
            if text not in codes:
                codes[text] = torch.randn(dim, generator=g)
        num_pairs = b.image_index.shape[0]
        signal = torch.zeros(num_pairs, dim)
        count = torch.zeros(num_pairs, 1)
        for p, s in b.pair_sentence.tolist():
            signal[p] += codes[sentences[s]]
            count[p] += 1
        x = signal / count.clamp(min=1) + noise_std * torch.randn(num_pairs, dim, generator=g)
        out.append(replace(b, features={**b.features, side: x}))
    return out


def shuffle_texts(batch: ProbeBatch, teacher: torch.nn.Module) -> ProbeBatch:
    """Image i gets image (i + 1) mod N's annotation text; a pair matched to its image's j-th
    sub-sentence gets the (j mod S')-th sub-sentence of the new text (S' its sub-sentences)."""
    n = batch.num_images
    order = [(i + 1) % n for i in range(n)]
    texts = [batch.hoi_texts[j] for j in order]
    new = teacher(texts)
    old_offsets, new_offsets = batch.teacher.sentence_offsets, new.sentence_offsets
    pairs, sentences = batch.pair_sentence.unbind(1)
    image = batch.image_index[pairs]
    local = sentences - old_offsets[image]
    count = new_offsets[image + 1] - new_offsets[image]
    keep = count > 0
    remapped = new_offsets[image] + torch.remainder(local, count.clamp(min=1))
    couples = torch.stack([pairs, remapped], 1)[keep]
    couples = torch.unique(couples, dim=0) if couples.shape[0] else couples
    return replace(batch, teacher=new, pair_sentence=couples, hoi_texts=texts)


def _noise_like(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, g: torch.Generator):
    return mean + std * torch.randn(x.shape, generator=g)


def _term_and_output(cml: CrossModalLearning, branch: AlignmentBranch, side, term, batch, x):
    """The probed term and the branch output whose spread is measured."""
    losses = cml(
        ire_features=x if side == "ire" else None,
        irm_features=x,
        image_index=batch.image_index,
        num_images=batch.num_images,
        pair_sentence=batch.pair_sentence,
        teacher=batch.teacher,
    )
    with torch.no_grad():
        ctx = branch.contextualise(x, batch.image_index, batch.num_images)
        rows = ctx[torch.unique(batch.pair_sentence[:, 0])]
        if term == "sentence":
            out = branch.sentence_head(rows)
        elif branch.word_formulation == "anchored":
            out = branch.word_head(rows)
        else:
            out = rows
    return losses[f"loss_{term}_{side}"], out


def probe(
    batches: Sequence[ProbeBatch],
    teacher: torch.nn.Module,
    *,
    term: str = "word",
    word_formulation: str = "anchored",
    side: str = "irm",
    seed: int = 0,
    steps: int = 300,
    num_train: Optional[int] = None,
    lr: float = 1e-3,
    hidden_dim: int = 64,
    branch_kwargs: Optional[Dict] = None,
) -> Dict[str, float]:
    """Train one fresh alignment branch on ``term`` (``"word"`` / ``"sentence"``) and measure it
    (module docstring).

    Args:
        batches: from :func:`collect_batches`; the first ``num_train`` (default 80 %) train, the
            rest are held out.
        teacher: the loaded text teacher (for the shuffled texts).
        term, word_formulation, side: what is probed.
        seed: branch initialisation, batch order, dropout and noise.
        steps: optimizer steps (AdamW, ``lr``), one batch each, cycling through the training set.
        hidden_dim, branch_kwargs: the branch's width and other constructor arguments (default:
            the tiny config's, 2 layers, 2 heads, FFN 128, dropout 0.1).

    Returns:
        ``real``, ``noise``, ``shuffled`` (held-out loss), ``noise_ratio``, ``shuffle_ratio``,
        ``grad_ratio`` and ``spread`` (of the real-feature branch).
    """
    if term not in ("word", "sentence"):
        raise ValueError(f"term must be 'word' or 'sentence', got {term!r}")
    num_train = int(0.8 * len(batches)) if num_train is None else num_train
    train, held_out = list(batches[:num_train]), list(batches[num_train:])
    if not train or not held_out:
        raise ValueError("probe: needs training and held-out batches")
    feats = torch.cat([b.features[side] for b in train])
    mean, std = feats.mean(0), feats.std(0)
    kw = dict(hidden_dim=hidden_dim, num_layers=2, num_heads=2, ffn_dim=2 * hidden_dim)
    kw.update(branch_kwargs or {})

    def build():
        torch.manual_seed(seed)
        branch = AlignmentBranch(
            input_dim=feats.shape[1],
            text_dim=batches[0].teacher.word_embeddings.shape[-1],
            sentence_alignment=term == "sentence",
            word_alignment=term == "word",
            word_formulation=word_formulation,
            **kw,
        )
        return branch, CrossModalLearning(
            ire_branch=branch if side == "ire" else None,
            irm_branch=branch if side == "irm" else None,
        )

    def features(batch, noisy, g):
        x = batch.features[side]
        return _noise_like(x, mean, std, g) if noisy else x

    def evaluate(cml, branch, batches_, noisy, g):
        cml.eval()
        values = []
        with torch.no_grad():
            for b in batches_:
                loss, _ = _term_and_output(cml, branch, side, term, b, features(b, noisy, g))
                values.append(float(loss))
        return sum(values) / len(values)

    results = {}
    trained = None
    for noisy in (False, True):
        branch, cml = build()
        optimizer = torch.optim.AdamW(cml.parameters(), lr=lr, weight_decay=1e-4)
        g = torch.Generator().manual_seed(seed + 1000)
        order = torch.randperm(len(train), generator=g).tolist()
        cml.train()
        for step in range(steps):
            b = train[order[step % len(order)]]
            loss, _ = _term_and_output(cml, branch, side, term, b, features(b, noisy, g))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        results["noise" if noisy else "real"] = evaluate(cml, branch, held_out, noisy, g)
        if not noisy:
            trained = (branch, cml)

    branch, cml = trained
    shuffled = [shuffle_texts(b, teacher) for b in held_out]
    results["shuffled"] = evaluate(cml, branch, shuffled, False, None)

    grad_x, grad_theta, spreads = 0.0, 0.0, []
    cml.eval()
    for b in held_out:
        x = b.features[side].clone().requires_grad_(True)
        cml.zero_grad(set_to_none=True)
        loss, out = _term_and_output(cml, branch, side, term, b, x)
        loss.backward()
        grad_x += float(x.grad.pow(2).sum())
        grad_theta += sum(
            float(p.grad.pow(2).sum()) for p in cml.parameters() if p.grad is not None
        )
        if out.shape[0] > 1:
            rms = out.pow(2).mean().sqrt()
            spreads.append(float(out.std(0).mean() / rms.clamp(min=1e-12)))
    results["grad_ratio"] = math.sqrt(grad_x) / max(math.sqrt(grad_theta), 1e-30)
    results["spread"] = sum(spreads) / max(len(spreads), 1)
    results["noise_ratio"] = results["noise"] / results["real"]
    results["shuffle_ratio"] = results["shuffled"] / results["real"]
    return results
