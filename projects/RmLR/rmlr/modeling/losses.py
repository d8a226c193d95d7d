"""Losses of RmLR: UPT's focal loss on the product score (Eq. 21) and the L1 alignment distance
(Eq. 15), both safe when a batch has nothing to supervise.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    X: supervised (pair, valid verb) entries of a batch      W: width of aligned features

Focal loss (UPT, ``binary_focal_loss_with_logits`` and ``compute_interaction_loss`` in
https://github.com/fredzzhang/upt): the prediction is the final score ``s = sigmoid(logit) * prior``
(``prior = (s_h * s_o)^lambda``), written as a logit ``x = log(s / (1 - s))`` and passed to

    |1 - y - alpha| * (|y - s| + eps)^gamma * BCEWithLogits(x, y),

summed over the valid (pair, verb) entries and divided by the number of positive labels averaged
over all ranks (alpha = 0.5, gamma = 0.2). UPT computes ``x = log(prior / (1 + exp(-logit) -
prior) + 1e-8)``; we compute the same log-odds as ``log(prior) + logsigmoid(logit) -
log1p(-s)``, which does not overflow for very negative logits. The normaliser is clamped to at
least one positive, so a batch without positives gives a finite loss (UPT divides by zero).
"""

from typing import Iterable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from detectron2.utils import comm

__all__ = ["product_score_focal_loss", "mean_over_ranks", "l1_distance", "connected_zero"]


def mean_over_ranks(value: float, device: torch.device) -> float:
    """Average a Python number over all ranks (the number itself on a single process)."""
    if comm.get_world_size() == 1:
        return float(value)
    t = torch.as_tensor([float(value)], device=device)
    dist.all_reduce(t)
    return float(t.item()) / comm.get_world_size()


def product_score_focal_loss(
    logits: torch.Tensor,
    prior: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float = 0.5,
    gamma: float = 0.2,
    eps: float = 1e-6,
    min_normalizer: float = 1.0,
) -> torch.Tensor:
    """UPT's focal loss on ``sigmoid(logits) * prior`` (see the module docstring).

    Args:
        logits: (X,) verb logits of the supervised entries.
        prior: (X,) ``(s_h * s_o)^lambda`` of the same entries, in (0, 1].
        labels: (X,) 0/1 targets.
        alpha: balance between positives and negatives.
        gamma: focusing exponent.
        eps: keeps the focusing term differentiable at zero error and ``1 - s`` positive.
        min_normalizer: lower bound of the (rank-averaged) number of positives.

    Returns:
        Scalar loss; 0 (connected to ``logits``) when there is no entry.
    """
    logits, prior = logits.float(), prior.float()  # the log-odds need float32 under autocast
    labels = labels.to(logits.dtype)
    log_score = torch.log(prior.clamp(min=eps)) + F.logsigmoid(logits)
    score = log_score.exp()
    log_odds = log_score - torch.log1p(-score.clamp(max=1 - eps))
    focal = (1 - labels - alpha).abs() * ((labels - score).abs() + eps) ** gamma
    loss = (focal * F.binary_cross_entropy_with_logits(log_odds, labels, reduction="none")).sum()
    num_pos = mean_over_ranks(float(labels.sum().item()), logits.device)
    return loss / max(num_pos, min_normalizer)


def l1_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Eq. 15, ``D_L1``: mean absolute difference over rows and channels. (X, W), (X, W) -> ()."""
    if a.shape != b.shape:
        raise ValueError(f"l1_distance: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.numel() == 0:
        return (a.sum() + b.sum()).float() * 0.0
    return (a.float() - b.float()).abs().mean()


def connected_zero(parameters: Iterable[torch.Tensor]) -> torch.Tensor:
    """A zero that depends on every given trainable parameter.

    Added to a loss that had nothing to supervise, it gives those parameters zero gradients
    instead of none, so distributed data parallel finds every parameter used on every rank.
    """
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError("connected_zero: no trainable parameter given")
    return sum(p.sum() for p in params) * 0.0
