"""Which weights a run loads, decided from the checkpoint's contents before the model is built.

A released RmLR model is one file: its state dict already holds every ``entity_detector.*``
tensor of the frozen DETR. When the checkpoint a run loads (``--eval-only``, the demo, the
analysis tool, ``--resume``, fine-tuning from ``train.init_checkpoint``) holds them,
:func:`use_checkpoint_entity_detector` clears ``model.entity_detector.checkpoint``, so the stage-1
DETR file the config names is neither read nor required. Otherwise the detector's own file is
needed, and a model whose frozen DETR would keep random weights is refused
(:func:`rmlr.engine.check_weight_sources`).

:func:`load_model_for_inference` is the one way tools build a model from a checkpoint: read it
safely (local path or URL), take the DETR from it, build the model, load it strictly. The whole
model comes from the checkpoint: the detector's own file is never read for inference, and a
checkpoint without the DETR fails naming the missing ``entity_detector.*`` keys.

The frozen pose stage of the pose-guided IRE (``model.pose_estimator``) is handled the same way
(:func:`use_checkpoint_pose_estimator`): a checkpoint holding its ``pose_estimator.*`` tensors
makes ``model.pose_estimator.checkpoint`` unnecessary.
"""

import logging
from typing import Dict, Mapping, Optional, Tuple

import torch
from detectron2.config import instantiate

from ..checkpoint import RmLRCheckpointer, find_resume_checkpoint, read_model_checkpoint

__all__ = [
    "ENTITY_DETECTOR_PREFIX",
    "checkpoint_has_entity_detector",
    "use_checkpoint_entity_detector",
    "read_training_checkpoint",
    "check_entity_detector_loaded",
    "load_model_for_inference",
    "POSE_ESTIMATOR_PREFIX",
    "checkpoint_has_pose_estimator",
    "use_checkpoint_pose_estimator",
]

logger = logging.getLogger(__name__)

ENTITY_DETECTOR_PREFIX = "entity_detector."
POSE_ESTIMATOR_PREFIX = "pose_estimator."


def checkpoint_has_entity_detector(checkpoint: Optional[Mapping]) -> bool:
    """Whether a checkpoint (Detectron2 layout) holds frozen-DETR tensors of an RmLR model."""
    state = (checkpoint or {}).get("model", {})
    return any(str(k).startswith(ENTITY_DETECTOR_PREFIX) for k in state)


def use_checkpoint_entity_detector(cfg, checkpoint: Optional[Mapping], source: str) -> bool:
    """Clear ``model.entity_detector.checkpoint`` when ``checkpoint`` holds the detector's
    tensors (the DETR then comes from it); returns whether it does."""
    detector = cfg.get("model", {}).get("entity_detector", None)
    if detector is None or not checkpoint_has_entity_detector(checkpoint):
        return False
    if detector.get("checkpoint", ""):
        logger.info(
            f"the frozen DETR's weights come from {source}; model.entity_detector.checkpoint="
            f"{detector.checkpoint!r} is not read"
        )
        detector.checkpoint = ""
    return True


def checkpoint_has_pose_estimator(checkpoint: Optional[Mapping]) -> bool:
    """Whether a checkpoint (Detectron2 layout) holds pose-stage tensors of an RmLR model."""
    state = (checkpoint or {}).get("model", {})
    return any(str(k).startswith(POSE_ESTIMATOR_PREFIX) for k in state)


def use_checkpoint_pose_estimator(cfg, checkpoint: Optional[Mapping], source: str) -> bool:
    """Clear ``model.pose_estimator.checkpoint`` when ``checkpoint`` holds the pose stage's
    tensors (its weights then come from it); returns whether it does."""
    pose = cfg.get("model", {}).get("pose_estimator", None)
    if pose is None or not checkpoint_has_pose_estimator(checkpoint):
        return False
    if pose.get("checkpoint", ""):
        logger.info(
            f"the pose model's weights come from {source}; model.pose_estimator.checkpoint="
            f"{pose.checkpoint!r} is not read"
        )
        pose.checkpoint = ""
    return True


def read_training_checkpoint(cfg, *, resume: bool) -> Tuple[Optional[str], Optional[Dict], bool]:
    """``(path, checkpoint, resumed)`` of what a training run starts from: with ``resume`` the
    newest valid checkpoint of ``train.output_dir`` (if any), else ``train.init_checkpoint``
    (if set), else nothing."""
    if resume:
        path, checkpoint = find_resume_checkpoint(cfg.train.output_dir)
        if path is not None:
            return path, checkpoint, True
    init = cfg.train.get("init_checkpoint", "") or ""
    if init:
        return init, read_model_checkpoint(init, "train.init_checkpoint"), False
    return None, None, False


def check_entity_detector_loaded(model: torch.nn.Module, checkpoint: Mapping, source: str) -> None:
    """With a partial load, refuse when the checkpoint supplied only some of the DETR's tensors
    (none is fine: the DETR then comes from ``model.entity_detector.checkpoint``)."""
    detector = getattr(model, "entity_detector", None)
    if detector is None or not checkpoint_has_entity_detector(checkpoint):
        return
    state = checkpoint["model"]
    missing = [
        ENTITY_DETECTOR_PREFIX + k
        for k in detector.state_dict()
        if ENTITY_DETECTOR_PREFIX + k not in state
    ]
    if missing:
        raise ValueError(
            f"{source} holds only part of the frozen DETR ({len(missing)} entity_detector tensors "
            f"missing, e.g. {missing[0]}): it would keep random weights. Give the DETR with "
            "model.entity_detector.checkpoint=... and a checkpoint without entity_detector.*"
        )


def load_model_for_inference(
    cfg, path: str, *, device: str, what: str = "checkpoint"
) -> torch.nn.Module:
    """Build ``cfg.model`` in eval mode on ``device`` (``"cpu"``, ``"cuda"``, ...; see
    :func:`~rmlr.engine.resolve_device`) and load ``path`` (local or URL) strictly."""
    checkpoint = read_model_checkpoint(path, what)
    if not use_checkpoint_entity_detector(cfg, checkpoint, f"{what} {path}"):
        detector = cfg.get("model", {}).get("entity_detector", None)
        if detector is not None:  # the strict load below names the missing entity_detector.*
            detector.checkpoint = ""
    if not use_checkpoint_pose_estimator(cfg, checkpoint, f"{what} {path}"):
        pose = cfg.get("model", {}).get("pose_estimator", None)
        if pose is not None:  # the strict load below names the missing pose_estimator.*
            pose.checkpoint = ""
    model = instantiate(cfg.model)
    model.eval()
    model.to(device)
    RmLRCheckpointer(model, strict=True).apply(checkpoint, path)
    return model
