"""What RmLR looked at for each pair, captured without changing its outputs.

* **IRE pooling** (Eq. 5): the masked union pooling of the Interactive Relation Encoder is one
  linear map per pair, ``m_p = sum_cells W_p * X_e`` with ``W_p`` (h, w) the weights of the
  ROIAlign samples of the union box that fall inside the human or the object box
  (:func:`~rmlr.modeling.interactive_relation_encoder.masked_pooling.union_pool_weights`). ``W_p``
  is exactly which image regions the IRE pooled for pair p.
* **IRM pair-to-pair attention**: the softmax weights of the competitive layer(s) (Sec. 3.4),
  (heads, P_i, P_i) per image: how much each pair's representation took from every other pair of
  its image.

:class:`AttentionRecorder` registers forward hooks on the IRM, the IRE and the competitive layers'
attention modules; the hooks read their inputs and recompute the weights with the module's own
parameters, and return nothing, so the model's outputs are bit-identical with and without them
(tested, as is that the recomputed weights reproduce the pooled features and the attention
outputs). Capture in eval mode: dropout would make the training-mode weights random.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    P_i: pairs of image i      A: attention heads      h_v, w_v: valid feature cells of the image
"""

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from ..modeling.interactive_relation_encoder.masked_pooling import union_pool_weights, valid_cells

__all__ = ["AttentionRecorder", "ImageAttention", "attention_weights"]


def attention_weights(attention, query, key, key_padding_mask=None) -> torch.Tensor:
    """The softmax weights (B, A, L_q, L_k) of a
    :class:`~rmlr.modeling.attention_layers.MultiHeadAttention` call ``attention(query, key, ...,
    key_padding_mask)``, recomputed from its projections (no dropout: eval mode)."""
    q = attention._split(attention.query(query))
    k = attention._split(attention.key(key))
    logits = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(attention.head_dim)
    if key_padding_mask is not None:
        logits = logits.masked_fill(
            key_padding_mask[:, None, None, :], torch.finfo(logits.dtype).min
        )
    return logits.softmax(dim=-1)


@dataclass
class ImageAttention:
    """One image's pairs and attention, boxes in original-image pixels.

    Attributes:
        image_size: (height, width) of the original image.
        boxes_h, boxes_o: (P_i, 4) float arrays, the pairs in the model's order.
        object_classes: (P_i,) int64 detected class of each pair's object.
        pooling: (P_i, h_v, w_v) IRE pooling weights on the valid feature cells, or None (a model
            without IRE).
        cell_size: (height, width) of one feature cell in original-image pixels.
        pair_attention: per competitive layer, (A, P_i, P_i) weights (row: the attending pair).
    """

    image_size: Tuple[int, int]
    boxes_h: np.ndarray
    boxes_o: np.ndarray
    object_classes: np.ndarray
    pooling: Optional[np.ndarray]
    cell_size: Tuple[float, float]
    pair_attention: List[np.ndarray]

    def __len__(self) -> int:
        return self.boxes_h.shape[0]

    def pair_index(self, subject_box: Sequence[float], object_box: Sequence[float]) -> int:
        """The pair whose boxes are closest to an output row's boxes (the model's output boxes
        are its pair boxes rescaled and clipped, so the match is exact up to rounding)."""
        s = np.asarray(subject_box, float)
        o = np.asarray(object_box, float)
        dist = np.abs(self.boxes_h - s).sum(1) + np.abs(self.boxes_o - o).sum(1)
        return int(np.argmin(dist))

    def pooling_map(self, pair: int) -> np.ndarray:
        """(height, width) IRE pooling weights of ``pair`` over the original image: each feature
        cell's weight spread over the pixels it covers (nearest, so cells stay visible)."""
        if self.pooling is None:
            raise ValueError("this model has no IRE: no pooling weights")
        weights = self.pooling[pair]
        ch, cw = self.cell_size
        height, width = self.image_size
        full = cv2.resize(
            weights.astype(np.float32),
            (int(round(weights.shape[1] * cw)), int(round(weights.shape[0] * ch))),
            interpolation=cv2.INTER_NEAREST,
        )
        out = np.zeros((height, width), np.float32)
        h, w = min(height, full.shape[0]), min(width, full.shape[1])
        out[:h, :w] = full[:h, :w]
        return out

    def attended(self, pair: int, layer: int = -1) -> np.ndarray:
        """(P_i,) attention of ``pair`` to every pair of its image, averaged over heads."""
        return self.pair_attention[layer][:, pair, :].mean(axis=0)


class AttentionRecorder:
    """``with AttentionRecorder(model) as rec: outputs = model(inputs)``; then
    ``rec.images(original_sizes)`` gives one :class:`ImageAttention` per input image of the last
    forward pass (an RmLR model: ``model.irm``, optionally ``model.ire``)."""

    def __init__(self, model):
        self.model = model
        self._handles = []
        self._irm = None
        self._ire = None
        self._attention: List[torch.Tensor] = []

    # ---- hooks (read inputs, return None: outputs untouched) ------------------------------
    def _on_irm(self, module, args, output):
        pairs, image_hw = args[0], args[1]
        self._irm = (
            pairs.boxes_h.detach().float().cpu(),
            pairs.boxes_o.detach().float().cpu(),
            pairs.image_index.detach().cpu(),
            pairs.entity_labels[pairs.object_index].detach().cpu(),
            pairs.num_images,
            image_hw.detach().cpu(),
        )

    def _on_ire(self, module, args, output):
        features, padding_mask, boxes_h, boxes_o, image_index = args[:5]
        with torch.no_grad():
            valid = valid_cells(padding_mask)
            weights = union_pool_weights(
                boxes_h,
                boxes_o,
                valid[image_index],
                map_hw=tuple(features.shape[-2:]),
                spatial_scale=module.spatial_scale,
                grid_size=module.grid_size,
            )
        self._ire = (weights.cpu(), valid.cpu(), 1.0 / module.spatial_scale)

    def _on_attention(self, module, args, output):
        query, key = args[0], args[1]
        mask = args[3] if len(args) > 3 else None
        with torch.no_grad():
            weights = attention_weights(module, query, key, mask)
        self._attention.append(weights.float().cpu())

    def __enter__(self) -> "AttentionRecorder":
        self._irm, self._ire, self._attention = None, None, []
        self._handles.append(self.model.irm.register_forward_hook(self._on_irm))
        if getattr(self.model, "ire", None) is not None:
            self._handles.append(self.model.ire.register_forward_hook(self._on_ire))
        for layer in self.model.irm.competitive_layers:
            self._handles.append(layer.attention.register_forward_hook(self._on_attention))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    # ---- per-image results -------------------------------------------------------------
    def images(self, image_sizes: Sequence[Tuple[int, int]]) -> List[ImageAttention]:
        """Split the last forward pass by image. ``image_sizes``: (height, width) of each
        original image (the model's outputs are in these coordinates)."""
        if self._irm is None:
            raise RuntimeError("no forward pass was recorded (call the model inside the 'with')")
        boxes_h, boxes_o, image_index, object_classes, num_images, image_hw = self._irm
        out = []
        for i in range(num_images):
            sel = (image_index == i).nonzero().flatten()
            in_h, in_w = (float(v) for v in image_hw[i])
            height, width = image_sizes[i]
            sy, sx = height / in_h, width / in_w
            scale = torch.tensor([sx, sy, sx, sy])
            clip = torch.tensor([width, height, width, height], dtype=torch.float)

            def original(boxes):
                return torch.minimum((boxes[sel] * scale).clamp(min=0), clip).numpy()

            pooling, cell = None, (0.0, 0.0)
            if self._ire is not None:
                weights, valid, stride = self._ire
                vh, vw = (int(v) for v in valid[i])
                pooling = weights[sel][:, :vh, :vw].numpy()
                cell = (stride * sy, stride * sx)
            n = sel.numel()  # the competitive layers pack image i's pairs first, in order
            layers = [weights[i, :, :n, :n].numpy() for weights in self._attention]
            out.append(
                ImageAttention(
                    image_size=(height, width),
                    boxes_h=original(boxes_h),
                    boxes_o=original(boxes_o),
                    object_classes=object_classes[sel].numpy(),
                    pooling=pooling,
                    cell_size=cell,
                    pair_attention=layers,
                )
            )
        return out
