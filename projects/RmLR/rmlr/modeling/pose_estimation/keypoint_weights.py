"""Strict loading of Detectron2 keypoint checkpoints into
:class:`~rmlr.modeling.pose_estimation.pose_estimator.FrozenPoseEstimator`.

Shape shorthand (extends :mod:`rmlr.modeling.pose_estimation.pose_estimator`):
    J: keypoints per human

Accepted files (read by :func:`rmlr.checkpoint.read_model_checkpoint`: no code runs from a file;
local paths, ``detectron2://``, ``http(s)://`` URLs):

* the Detectron2 model zoo's ``.pkl`` (``{"model": {name: numpy array}, "__author__": ...}``, e.g.
  ``detectron2://COCO-Keypoints/keypoint_rcnn_R_50_FPN_3x/137849621/model_final_a6e10b.pkl``);
* a ``.pth`` written by a Detectron2 training run (``{"model": state_dict, ...}``) or a bare state
  dict, in ``GeneralizedRCNN`` names.

Rules: ``proposal_generator.*``, ``roi_heads.box_head.*`` and ``roi_heads.box_predictor.*`` are
dropped (the boxes come from DETR; the dropped count is logged); ``num_batches_tracked`` counters
are ignored (they do not change a frozen model's output); every other key must be one of the pose model's, with its shape, and
every pose-model key must be in the file. A head with another keypoint count (e.g. CrowdPose's 14
against COCO's 17) gets its own message. Caffe2-named files (``matching_heuristics``) are refused:
their names need Detectron2's heuristic renaming, which cannot be checked strictly. Each error
names the file, the key and the config key :data:`POSE_CHECKPOINT_KEY`.
"""

import logging
from typing import Dict, Mapping

import numpy as np
import torch

from ...checkpoint import CheckpointError, read_model_checkpoint
from .pose_estimator import POSE_CHECKPOINT_KEY, FrozenPoseEstimator

__all__ = [
    "KeypointCheckpointError",
    "UNUSED_PREFIXES",
    "read_keypoint_state",
    "load_keypoint_checkpoint",
]

logger = logging.getLogger(__name__)

#: Keypoint R-CNN weights the pose stage does not use (it runs on the DETR boxes).
UNUSED_PREFIXES = ("proposal_generator.", "roi_heads.box_head.", "roi_heads.box_predictor.")
HEAD_OUTPUT_KEY = "roi_heads.keypoint_head.score_lowres.weight"
COUNTER = "num_batches_tracked"
_SHOWN = 6


class KeypointCheckpointError(CheckpointError):
    """A keypoint checkpoint that does not match the pose model (message: file, keys, config key)."""


def _as_tensor(value, key: str, where: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return torch.from_numpy(np.ascontiguousarray(value))
    raise KeypointCheckpointError(
        f"{where}: key '{key}' holds a {type(value).__name__}, not an array of numbers"
    )


def read_keypoint_state(path: str, what: str = POSE_CHECKPOINT_KEY) -> Dict[str, torch.Tensor]:
    """The pose-model tensors of a Detectron2 keypoint checkpoint (unused prefixes dropped)."""
    where = f"{what}={path!r}"
    checkpoint = read_model_checkpoint(path, what)
    if checkpoint.get("matching_heuristics", False):
        raise KeypointCheckpointError(
            f"{where}: Caffe2-named weights (no Detectron2 'model' entry); load it into a "
            "Detectron2 GeneralizedRCNN, save its state dict and give that file"
        )
    state, dropped = {}, 0
    for key, value in checkpoint["model"].items():
        if str(key).startswith(UNUSED_PREFIXES):
            dropped += 1
            continue
        if str(key).endswith(COUNTER):  # batch-norm counters: no effect on a frozen model
            continue
        state[str(key)] = _as_tensor(value, str(key), where)
    if dropped:
        logger.info(f"{where}: {dropped} proposal / box-head tensors not used (DETR gives boxes)")
    return state


def _shorten(items) -> str:
    items = list(items)
    more = f" ... (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def check_keypoint_state(
    model: FrozenPoseEstimator, state: Mapping[str, torch.Tensor], where: str
) -> None:
    """Raise :class:`KeypointCheckpointError` unless ``state`` has exactly the model's keys and
    shapes (``num_batches_tracked`` counters aside)."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    head = state.get(HEAD_OUTPUT_KEY)
    if head is not None and head.dim() == 4 and head.shape[1] != model.num_keypoints:
        raise KeypointCheckpointError(
            f"{where}: '{HEAD_OUTPUT_KEY}' predicts {head.shape[1]} keypoints, the pose model "
            f"{model.num_keypoints} (COCO: 17, CrowdPose: 14); set the keypoint head's "
            "num_keypoints (model.pose_estimator.keypoint_head.num_keypoints) and the "
            "encoder's num_keypoints to the checkpoint's"
        )
    expected = {k: v for k, v in expected.items() if not k.endswith(COUNTER)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} in the file, {tuple(s)} in the model"
        for k, s in expected.items()
        if k in state and tuple(state[k].shape) != tuple(s)
    ]
    problems = []
    for name, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            problems.append(f"{len(items)} {name} key(s): {_shorten(items)}")
    if problems:
        raise KeypointCheckpointError(
            f"{where} does not match the pose model (another backbone depth, FPN width or head?): "
            + "; ".join(problems)
        )


def load_keypoint_checkpoint(
    model: FrozenPoseEstimator, path: str, what: str = POSE_CHECKPOINT_KEY
) -> None:
    """Read ``path`` safely and load it into ``model`` strictly (see the module docstring)."""
    where = f"{what}={path!r}"
    state = read_keypoint_state(path, what)
    check_keypoint_state(model, state, where)
    incompatible = model.load_state_dict(state, strict=False)
    left = [k for k in incompatible.missing_keys if not k.endswith(COUNTER)]
    if left or incompatible.unexpected_keys:  # guarded above; kept as a last check
        raise KeypointCheckpointError(f"{where}: not loaded: {_shorten(left)}")
    model.weights_loaded = True
    logger.info(f"pose model: {len(state)} tensors loaded from {path}")
