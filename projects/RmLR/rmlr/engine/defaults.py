"""Pieces of the training entry (``tools/lazyconfig_train_net.py``) that are worth testing alone.

* :func:`resolve_device`: ``train.device = "auto"`` picks CUDA when present, else CPU.
* :func:`check_weight_sources`: refuse, before anything is built, a run that would silently use
  random weights (a missing ``train.init_checkpoint``, a missing entity-detector checkpoint or
  text-teacher folder, or an RmLR model whose frozen DETR gets weights from nowhere, decided from
  the checkpoint's contents).
* :func:`check_dataset_classes`: refuse a model whose ``num_verbs`` differs from the verb count of
  a dataset the config trains, tests or takes valid verbs from (e.g. a new dataset registered
  with another verb list while ``model.num_verbs`` stayed at HICO-DET's 117).
* :func:`build_trainer`: the :class:`~rmlr.engine.trainer.HOITrainer` of a config's ``train``
  node (accumulation, clipping, AMP on the run's device type with ``train.amp.dtype``).
* :func:`build_resumable_train_loader`: instantiate ``dataloader.train`` as a
  :class:`~rmlr.engine.train_loader.ResumableTrainLoader`, whose checkpointed state makes
  ``--resume`` continue with exactly the batches of an uninterrupted run.
"""

import logging
import os
from typing import Any, List, Mapping, Optional

import torch
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog, build_detection_train_loader
from detectron2.utils.registry import locate
from omegaconf import DictConfig, ListConfig

from ..checkpoint import is_url
from .train_loader import ResumableTrainLoader
from .trainer import HOITrainer
from .weights import checkpoint_has_entity_detector, checkpoint_has_pose_estimator

_LOADER_ARGS = (
    "dataset",
    "mapper",
    "total_batch_size",
    "aspect_ratio_grouping",
    "num_workers",
    "collate_fn",
)

__all__ = [
    "resolve_device",
    "check_weight_sources",
    "check_dataset_classes",
    "build_resumable_train_loader",
    "build_trainer",
]

_AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}

logger = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available else ``"cpu"``; anything else is returned as is,
    except that asking for CUDA on a machine without it is an error (not a silent CPU run)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"train.device={device!r} but CUDA is not available; use train.device=auto or cpu"
        )
    return device


def build_trainer(train_cfg: Any, model, optimizer, device: str, data_loader=None) -> HOITrainer:
    """The training loop of ``train_cfg`` (a config's ``train`` node) for a model on ``device``.

    ``train.amp.enabled`` turns on autocast on the device's type ("cuda", or "cpu" for CPU
    autocast) with ``train.amp.dtype`` ("float16", the default, with a GradScaler; or
    "bfloat16"). ``train.grad_accum_steps`` and ``train.clip_grad`` as in ``common/train.py``.
    """
    amp = train_cfg.get("amp", {}) or {}
    dtype_name = str(amp.get("dtype", "float16"))
    if dtype_name not in _AMP_DTYPES:
        raise ValueError(f"train.amp.dtype={dtype_name!r}: expected one of {sorted(_AMP_DTYPES)}")
    clip = train_cfg.get("clip_grad", {}) or {}
    return HOITrainer(
        model,
        data_loader,
        optimizer,
        grad_accum_steps=int(train_cfg.get("grad_accum_steps", 1)),
        clip_grad_norm=float(clip.get("max_norm", 0.0)) if clip.get("enabled", False) else 0.0,
        clip_grad_norm_type=float(clip.get("norm_type", 2.0)),
        amp=bool(amp.get("enabled", False)),
        amp_device="cuda" if str(device).startswith("cuda") else "cpu",
        amp_dtype=_AMP_DTYPES[dtype_name],
    )


def _get(cfg: Any, dotted: str, default=None):
    node = cfg
    for key in dotted.split("."):
        if not isinstance(node, (dict, DictConfig)) or key not in node:
            return default
        node = node[key]
    return node


def _looks_like_path(name: str) -> bool:
    """Hub names are ``name`` or ``org/name``; anything else (absolute, relative with ``./``,
    ``~``, more than one ``/``) or an existing path is a local folder."""
    return os.path.exists(name) or name.startswith((".", "/", "~")) or name.count("/") > 1


def _check_pose_weights(cfg, *, eval_only: bool, resume: bool, checkpoint) -> None:
    """The pose stage's ``model.pose_estimator.checkpoint`` (pose-guided IRE): an existing file
    or URL, or (empty) a model checkpoint that holds ``pose_estimator.*``; never random weights."""
    if eval_only or _get(cfg, "model.pose_estimator", None) is None:
        return  # --eval-only: the whole model, pose stage included, comes from init (strictly)
    pose_ckpt = _get(cfg, "model.pose_estimator.checkpoint", "") or ""
    if pose_ckpt:
        if not is_url(pose_ckpt) and not os.path.isfile(os.path.expanduser(pose_ckpt)):
            raise FileNotFoundError(
                f"model.pose_estimator.checkpoint={pose_ckpt!r}: no such file. Give a Detectron2 "
                "keypoint checkpoint (local .pkl / .pth or a detectron2:// URL)."
            )
    elif not resume and not checkpoint_has_pose_estimator(checkpoint):
        raise ValueError(
            "model.pose_estimator.checkpoint is empty and no model checkpoint holds "
            "pose_estimator.* tensors: the pose model would keep random weights. Give a "
            "Detectron2 keypoint checkpoint with model.pose_estimator.checkpoint=..."
        )


def check_weight_sources(
    cfg, *, eval_only: bool = False, resume: bool = False, checkpoint: Optional[Mapping] = None
) -> None:
    """Raise ``FileNotFoundError``/``ValueError`` naming the config key and path when a run would
    start from weights that do not exist.

    Checked: ``train.init_checkpoint`` (required with ``eval_only``, which then loads the whole
    model from it), the frozen entity detector's ``model.entity_detector.checkpoint`` (training),
    the pose stage's ``model.pose_estimator.checkpoint`` (pose-guided IRE; training),
    the text teacher's local folder ``model.text_teacher.model_name_or_path`` (a hub name is left
    to the teacher, which fails clearly offline). URLs (``https://``, ``detectron2://``) are checked when downloaded. An RmLR
    model whose entity detector has no checkpoint needs a model checkpoint that holds the
    detector's tensors (``checkpoint``: the content of ``train.init_checkpoint`` or of the
    checkpoint resumed from, when the caller has read it), a resumable checkpoint, or the
    explicit ``train.allow_random_entity_detector=True`` (tests only).
    """
    init = _get(cfg, "train.init_checkpoint", "") or ""
    if init and not is_url(init) and not os.path.isfile(os.path.expanduser(init)):
        raise FileNotFoundError(f"train.init_checkpoint={init!r}: no such file")
    if eval_only and not init:
        raise ValueError("--eval-only needs train.init_checkpoint=<a trained checkpoint>")

    _check_pose_weights(cfg, eval_only=eval_only, resume=resume, checkpoint=checkpoint)
    detector_ckpt = _get(cfg, "model.entity_detector.checkpoint", None)
    if eval_only:
        detector_ckpt = None  # the whole model, frozen DETR included, comes from init (strictly)
    if detector_ckpt:
        if not is_url(detector_ckpt) and not os.path.isfile(os.path.expanduser(detector_ckpt)):
            raise FileNotFoundError(
                f"model.entity_detector.checkpoint={detector_ckpt!r}: no such file. Convert a DETR "
                "checkpoint with tools/convert_detr_weights.py or train one (stage 1, README), or "
                "give a full RmLR checkpoint (train.init_checkpoint), which holds the DETR."
            )
    elif detector_ckpt is not None and not resume:
        if _get(cfg, "train.allow_random_entity_detector", False):
            return
        if not init:
            raise ValueError(
                "model.entity_detector.checkpoint is empty and train.init_checkpoint is empty: the "
                "frozen DETR would keep random weights. Give one of them (or set "
                "train.allow_random_entity_detector=True for a smoke test)."
            )
        if checkpoint is not None and not checkpoint_has_entity_detector(checkpoint):
            raise ValueError(
                f"train.init_checkpoint={init!r} holds no entity_detector.* tensors and "
                "model.entity_detector.checkpoint is empty: the frozen DETR would keep random "
                "weights. Give the stage-1 DETR with model.entity_detector.checkpoint=..."
            )

    teacher = _get(cfg, "model.text_teacher.model_name_or_path", None)
    if teacher and not eval_only and _looks_like_path(str(teacher)):
        if not os.path.isdir(os.path.expanduser(str(teacher))):
            raise FileNotFoundError(
                f"model.text_teacher.model_name_or_path={teacher!r}: no such folder"
            )


def _dataset_names(node) -> List[str]:
    """Registered dataset names in a config value (a name or a list of names; anything else,
    e.g. a ``LazyCall`` that registers a derived dataset, is skipped)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, (list, tuple, ListConfig)) and all(isinstance(n, str) for n in node):
        return list(node)
    return []


def check_dataset_classes(cfg) -> None:
    """Raise ``ValueError`` naming the config key and the dataset when ``model.num_verbs`` differs
    from the number of ``verb_classes`` in the metadata of ``dataloader.train.dataset.names``,
    ``dataloader.test.dataset.names`` or ``model.valid_verbs_per_object.dataset_name``.

    Configs without ``model.num_verbs`` (DETR) and datasets without ``verb_classes`` metadata are
    not checked.
    """
    num_verbs = _get(cfg, "model.num_verbs", None)
    if num_verbs is None:
        return
    keys = (
        "dataloader.train.dataset.names",
        "dataloader.test.dataset.names",
        "model.valid_verbs_per_object.dataset_name",
    )
    for key in keys:
        for name in _dataset_names(_get(cfg, key, None)):
            verbs = MetadataCatalog.get(name).get("verb_classes", None)
            if verbs is not None and len(verbs) != int(num_verbs):
                raise ValueError(
                    f"model.num_verbs={num_verbs} but {key} names dataset {name!r}, which has "
                    f"{len(verbs)} verb classes: set model.num_verbs={len(verbs)}"
                )


def build_resumable_train_loader(loader_cfg, *, seed: Optional[int]) -> ResumableTrainLoader:
    """A :class:`ResumableTrainLoader` from a ``dataloader.train`` node written for Detectron2's
    ``build_detection_train_loader`` (``dataset``, ``mapper``, ``total_batch_size`` and optionally
    ``aspect_ratio_grouping``, ``num_workers``, ``collate_fn``), whose state makes ``--resume``
    exact. Another builder or a ``sampler`` in the node is refused, naming the key."""
    target = loader_cfg._target_
    if isinstance(target, str):
        target = locate(target)
    if target is not build_detection_train_loader:
        raise ValueError(
            f"dataloader.train._target_={getattr(target, '__qualname__', target)!r}: the training "
            "entry builds its own resumable loader from the arguments of Detectron2's "
            "build_detection_train_loader; use L(build_detection_train_loader)(...)"
        )
    unknown = set(loader_cfg) - {"_target_", "sampler", *_LOADER_ARGS}
    if unknown or loader_cfg.get("sampler") is not None:
        raise ValueError(
            f"dataloader.train: {sorted(unknown) or ['sampler']} not supported by the resumable "
            "loader (its sampler is ResumableTrainingSampler, seeded by train.seed)"
        )
    kwargs = {k: instantiate(loader_cfg[k]) for k in _LOADER_ARGS if k in loader_cfg}
    dataset = kwargs.pop("dataset")
    return ResumableTrainLoader(dataset, seed=seed, **kwargs)
