"""The frozen entity stage: DETR detections, embeddings and feature maps for the HOI stage.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)

RmLR (Sec. 3.2) and UPT train the HOI head on top of a fine-tuned DETR that stays fixed. This
wrapper owns that: its detector never requires gradients, runs under ``torch.no_grad()`` and
stays in eval mode when the parent model calls ``.train()``. UPT left its DETR in train mode, so
dropout stayed active in the frozen detector while the interaction head trained; set
``keep_dropout=True`` to reproduce that (detections then vary from run to run). The default,
eval mode, gives deterministic detections.

Batches at inference: DETR's backbone convolutions see the zero padding a batch gives smaller
images, so an image's features (and detections) would depend on the other images of its batch.
With ``pad_free_inference`` (default) the detector runs once per group of equal-size images
(no padding inside a group) and the C5 maps are padded afterwards, with the padding marked in
``feature_mask``: every image gets what it gets alone, and the HOI head, which ignores padded
cells, still runs once over the whole batch. Training batches keep DETR's padded batch.

Post-processing follows UPT (and DETR's ``PostProcess``): softmax over K + 1 logits, no-object
dropped, ``score, label = max``; boxes scaled to each unpadded input image; then
:class:`~rmlr.modeling.entity_detection.proposal_filter.ProposalFilter` selects the entities.
"""

from typing import Dict, List

import torch
from detectron2.structures import ImageList
from torch import nn
from torchvision.ops import box_convert

from .detr import DETRDetector
from .detr_weights import load_detector_checkpoint
from .entity_detections import EntityDetections
from .proposal_filter import ProposalFilter

__all__ = ["FrozenEntityDetector"]


class FrozenEntityDetector(nn.Module):
    """A DETR whose parameters are frozen, returning :class:`EntityDetections`."""

    def __init__(
        self,
        *,
        detector: DETRDetector,
        proposal_filter: ProposalFilter,
        checkpoint: str = "",
        keep_dropout: bool = False,
        pad_free_inference: bool = True,
    ):
        """
        Args:
            detector: the built DETR meta-architecture (its criterion is not used).
            proposal_filter: selects the entities among the Q detections of each image.
            checkpoint: path of a converted checkpoint (``{"model": ...}`` in the
                DETRDetector layout, from ``tools/convert_detr_weights.py`` or a stage-1
                training run); loaded here with exact key and shape matching. Empty: keep the
                detector's current weights (e.g. loaded with the parent's checkpoint).
            keep_dropout: run the detector in train mode while the parent trains (UPT's
                behaviour: dropout active); False keeps it in eval mode.
            pad_free_inference: at inference, run the detector per group of equal-size images
                so that no image sees another's padding (see the module docstring); False runs
                the whole padded batch at once (faster on GPU for mixed sizes, but an image's
                detections then depend slightly on its batch).
        """
        super().__init__()
        self.detector = detector
        self.proposal_filter = proposal_filter
        self.keep_dropout = keep_dropout
        self.pad_free_inference = pad_free_inference
        if checkpoint:
            load_detector_checkpoint(detector, checkpoint)
        detector.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "FrozenEntityDetector":
        """Sets this module's flag; the detector follows only with ``keep_dropout``."""
        self.training = mode
        self.detector.train(mode and self.keep_dropout)
        return self

    def preprocess_image(self, batched_inputs: List[Dict]) -> ImageList:
        """Normalise and zero-pad ``x["image"]`` (uint8 RGB (3, H_i, W_i)) of each input."""
        return self.detector.preprocess_image(batched_inputs)

    @torch.no_grad()
    def forward(self, images: ImageList) -> EntityDetections:
        """
        Args:
            images: the output of :meth:`preprocess_image`, (N, 3, H, W) with unpadded sizes.

        Returns:
            :class:`EntityDetections`: per image the R_i kept entities (humans first) with
            xyxy boxes in input-image pixels, scores, COCO-80 labels and (R_i, D) last decoder
            states; the (N, C, h, w) C5 map, its (N, h, w) padding mask and the (N, D, h, w)
            encoder memory.
        """
        sizes = [tuple(int(v) for v in hw) for hw in images.image_sizes]
        if self.pad_free_inference and not self.training and len(set(sizes)) > 1:
            out = self._detect_by_size(images, sizes)
        else:
            out = self.detector.detr(images)
        scores, labels = out["pred_logits"].softmax(-1)[..., :-1].max(-1)
        boxes, kept_scores, kept_labels, embeddings = [], [], [], []
        for i, (h, w) in enumerate(images.image_sizes):
            xyxy = box_convert(out["pred_boxes"][i], "cxcywh", "xyxy")
            xyxy = xyxy * xyxy.new_tensor([w, h, w, h])
            keep = self.proposal_filter(xyxy, scores[i], labels[i])
            boxes.append(xyxy[keep])
            kept_scores.append(scores[i][keep])
            kept_labels.append(labels[i][keep])
            embeddings.append(out["embeddings"][i][keep])
        return EntityDetections(
            boxes=boxes,
            scores=kept_scores,
            labels=kept_labels,
            embeddings=embeddings,
            features=out["features"],
            feature_mask=out["feature_mask"],
            memory=out["memory"],
            extra_features=out.get("extra_features", {}),
        )

    def _detect_by_size(self, images: ImageList, sizes) -> Dict[str, torch.Tensor]:
        """DETR's outputs for a batch of mixed sizes, each group of equal-size images run
        without padding; per-image maps are zero-padded to the largest (h, w) afterwards and
        ``feature_mask`` is True there."""
        groups: Dict[tuple, List[int]] = {}
        for i, hw in enumerate(sizes):
            groups.setdefault(hw, []).append(i)
        parts = []
        for (h, w), index in groups.items():
            tensor = images.tensor[index, :, :h, :w]
            parts.append((index, self.detector.detr(ImageList(tensor, [(h, w)] * len(index)))))
        n = len(sizes)
        return {
            key: _merge_by_index([(index, part[key]) for index, part in parts], n)
            for key in parts[0][1]
            if key != "aux_outputs"
        }


def _merge_by_index(parts, n: int):
    """Scatter per-group outputs ``[(image indices, value)]`` back into batch order. Tensors:
    (N, h, w) bool padding masks are padded with True, (N, ., h, w) maps with 0, other (N, ...)
    rows must agree in shape; dicts and tuples (e.g. ``extra_features``: name -> (map, mask)) are
    merged element by element."""
    first = parts[0][1]
    if isinstance(first, dict):
        return {k: _merge_by_index([(i, v[k]) for i, v in parts], n) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(
            _merge_by_index([(i, v[j]) for i, v in parts], n) for j in range(len(first))
        )
    if first.dim() == 3 and first.dtype == torch.bool:  # (N, h, w) padding mask
        fill = True
    elif first.dim() == 4:  # (N, ., h, w) maps
        fill = 0
    else:  # (N, ...) per-image rows of equal shape
        out = first.new_empty((n,) + tuple(first.shape[1:]))
        for index, value in parts:
            out[index] = value
        return out
    shape = [max(v.shape[d] for _, v in parts) for d in range(1, first.dim())]
    out = first.new_full([n] + shape, fill)
    for index, value in parts:
        out[(index,) + tuple(slice(0, s) for s in value.shape[1:])] = value
    return out
