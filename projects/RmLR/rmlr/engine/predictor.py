"""Run a trained config on single images (the demo's engine), like Detectron2's DefaultPredictor
but for LazyConfigs and HOI outputs."""

from typing import List, Optional, Sequence

import numpy as np
import torch
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T
from detectron2.structures import Instances

from .defaults import _dataset_names, _get, resolve_device
from .weights import load_model_for_inference

__all__ = ["HOIPredictor", "hoi_rows", "metadata_from_config"]

# DETR's and UPT's test-time resize, used when the config has no test augmentations.
_DEFAULT_TEST_RESIZE = (800, 1333)


def metadata_from_config(cfg):
    """The metadata (class and verb names) of the config's test dataset, or None without one;
    nothing is built or read, so tools can check their arguments before loading a model."""
    names = _dataset_names(_get(cfg, "dataloader.test.dataset.names"))
    return MetadataCatalog.get(names[0]) if names else None


class HOIPredictor:
    """``predictor(rgb_image) -> hoi_instances`` for a LazyConfig and a checkpoint.

    Args:
        cfg: a LazyConfig with ``model`` and (optionally) ``dataloader.test``.
        checkpoint: weights to load (a local path or an ``https://`` / ``detectron2://`` URL);
            default ``cfg.train.init_checkpoint``. Read safely and loaded strictly; a full RmLR
            checkpoint needs no other file (its frozen DETR is in it).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
    """

    def __init__(self, cfg, *, checkpoint: Optional[str] = None, device: str = "auto"):
        checkpoint = checkpoint or cfg.train.get("init_checkpoint", "")
        if not checkpoint:
            raise FileNotFoundError(
                "no checkpoint: give a trained model (train.init_checkpoint=... or --checkpoint)"
            )
        self.model = load_model_for_inference(cfg, checkpoint, device=resolve_device(device))
        self.augmentations = T.AugmentationList(self._test_augmentations(cfg))
        self.metadata = metadata_from_config(cfg)
        #: images per forward for callers that batch (the demo): ``dataloader.test.batch_size``
        self.batch_size = int(_get(cfg, "dataloader.test.batch_size", 1) or 1)

    @staticmethod
    def _test_augmentations(cfg) -> List[T.Augmentation]:
        try:
            augs = cfg.dataloader.test.mapper.augmentations
        except (AttributeError, KeyError):
            augs = None
        if augs is None:
            return [T.ResizeShortestEdge(*_DEFAULT_TEST_RESIZE)]
        return list(instantiate(augs))

    def _model_input(self, image_rgb: np.ndarray) -> dict:
        height, width = image_rgb.shape[:2]
        aug_input = T.AugInput(image_rgb)
        self.augmentations(aug_input)
        image = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        return {"image": image, "height": height, "width": width}

    @torch.no_grad()
    def predict(self, images_rgb: Sequence[np.ndarray]) -> List[Instances]:
        """A batch of (H_i, W_i, 3) uint8 RGB images -> their ``hoi_instances`` (in each image's
        coordinates), in one forward; the same as one image at a time (the model's predictions
        for an image do not depend on the rest of its batch)."""
        if len(images_rgb) == 0:
            return []
        outputs = self.model([self._model_input(image) for image in images_rgb])
        return [out["hoi_instances"].to("cpu") for out in outputs]

    def __call__(self, image_rgb: np.ndarray) -> Instances:
        """``image_rgb``: (H, W, 3) uint8 RGB. Returns ``hoi_instances`` in its coordinates."""
        return self.predict([image_rgb])[0]


def hoi_rows(instances: Instances, indices=None) -> List[dict]:
    """Predictions-file rows (README format) for the selected rows of ``hoi_instances``."""
    idx = range(len(instances)) if indices is None else indices
    h = instances.pred_subject_boxes.tensor.tolist()
    o = instances.pred_object_boxes.tensor.tolist()
    objs = instances.pred_object_classes.tolist()
    verbs = instances.pred_verb_classes.tolist()
    scores = instances.scores.tolist()
    return [
        {
            "subject_box": h[i],
            "object_box": o[i],
            "object_category": objs[i],
            "verb": verbs[i],
            "score": scores[i],
        }
        for i in idx
    ]
