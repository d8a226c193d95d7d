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


def _checkpoint_has(checkpoint: Optional[Mapping], prefix: str) -> bool:
    state = (checkpoint or {}).get("model", {})
    return any(str(k).startswith(prefix) for k in state)


def _use_checkpoint_stage(
    cfg, checkpoint: Optional[Mapping], source: str, key: str, prefix: str, what: str
) -> bool:
    """Clear ``model.<key>.checkpoint`` when ``checkpoint`` holds that frozen stage's tensors
    (``prefix``); returns whether it does."""
    stage = cfg.get("model", {}).get(key, None)
    if stage is None or not _checkpoint_has(checkpoint, prefix):
        return False
    if stage.get("checkpoint", ""):
        logger.info(
            f"{what} weights come from {source}; model.{key}.checkpoint="
            f"{stage.checkpoint!r} is not read"
        )
        stage.checkpoint = ""
    return True


def checkpoint_has_entity_detector(checkpoint: Optional[Mapping]) -> bool:
    """Whether a checkpoint (Detectron2 layout) holds frozen-DETR tensors of an RmLR model."""
    return _checkpoint_has(checkpoint, ENTITY_DETECTOR_PREFIX)


def use_checkpoint_entity_detector(cfg, checkpoint: Optional[Mapping], source: str) -> bool:
    """Clear ``model.entity_detector.checkpoint`` when ``checkpoint`` holds the detector's
    tensors (the DETR then comes from it); returns whether it does."""
    return _use_checkpoint_stage(
        cfg, checkpoint, source, "entity_detector", ENTITY_DETECTOR_PREFIX, "the frozen DETR's"
    )


def checkpoint_has_pose_estimator(checkpoint: Optional[Mapping]) -> bool:
    """Whether a checkpoint (Detectron2 layout) holds pose-stage tensors of an RmLR model."""
    return _checkpoint_has(checkpoint, POSE_ESTIMATOR_PREFIX)


def use_checkpoint_pose_estimator(cfg, checkpoint: Optional[Mapping], source: str) -> bool:
    """Clear ``model.pose_estimator.checkpoint`` when ``checkpoint`` holds the pose stage's
    tensors (its weights then come from it); returns whether it does."""
    return _use_checkpoint_stage(
        cfg, checkpoint, source, "pose_estimator", POSE_ESTIMATOR_PREFIX, "the pose model's"
    )


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
    use_checkpoint_entity_detector(cfg, checkpoint, f"{what} {path}")  # logs the source
    use_checkpoint_pose_estimator(cfg, checkpoint, f"{what} {path}")
    # The strict load below supplies every frozen stage, or names its missing tensors.
    for key in ("entity_detector", "pose_estimator"):
        stage = cfg.get("model", {}).get(key, None)
        if stage is not None:
            stage.checkpoint = ""
    model = instantiate(cfg.model)
    model.eval()
    model.to(device)
    RmLRCheckpointer(model, strict=True).apply(checkpoint, path)
    return model
