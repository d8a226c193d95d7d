"""DETR (Carion et al., ECCV 2020) from Detectron2 parts, and its Detectron2 meta-architecture.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)
    L: decoder layers             H, W: padded batch height and width

:class:`DETR` is the network (backbone, position embedding, input projection, transformer, query
embedding, heads) and computes the same function as facebookresearch/detr's ``DETR`` given the
same weights; :class:`DETRDetector` puts it behind Detectron2's input/output contract (uint8 RGB
CHW images in, ``Instances`` out, ``loss_*`` dict in training), as DETR's own ``d2/`` adapter
does. Differences from the official code, all outside the network function:

* the class head is COCO-80 contiguous + no-object (index K = 80) instead of 91 ids + no-object;
  :mod:`rmlr.modeling.entity_detection.detr_weights` remaps official checkpoints;
* images are normalised on 0-255 values with ``pixel_mean``/``pixel_std`` scaled by 255
  (DETR divides by 255 first), and inference boxes are clipped to the image by
  :func:`detector_postprocess` (DETR's ``PostProcess`` does not clip);
* loading a state dict that leaves weights missing raises (``strict_checkpoint``).

Idea from https://github.com/facebookresearch/detr/blob/main/models/detr.py and
https://github.com/facebookresearch/detr/blob/main/d2/detr/detr.py
"""

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances
from torch import nn
from torchvision.ops import box_convert

from .detr_criterion import SetCriterion
from .detr_transformer import DETRTransformer
from .position_encoding import PositionEmbeddingSine

__all__ = ["MLP", "DETR", "DETRDetector", "get_detr_optimizer_params"]


class MLP(nn.Module):
    """Linear layers with ReLU between them (DETR's box head: 3 layers, D -> D -> D -> 4)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(
            nn.Linear(n, k) for n, k in zip([input_dim] + dims, dims + [output_dim])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., input_dim) -> (..., output_dim)"""
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


def padding_mask(images: ImageList) -> torch.Tensor:
    """(N, H, W) bool mask of an :class:`ImageList`, True on the padding of each image."""
    n, _, h, w = images.tensor.shape
    mask = torch.ones((n, h, w), dtype=torch.bool, device=images.tensor.device)
    for i, (ih, iw) in enumerate(images.image_sizes):
        mask[i, :ih, :iw] = False
    return mask


class DETR(nn.Module):
    """The DETR network: C5 -> 1x1 projection -> transformer -> class and box heads."""

    def __init__(
        self,
        *,
        backbone: Backbone,
        position_embedding: PositionEmbeddingSine,
        transformer: DETRTransformer,
        num_classes: int = 80,
        num_queries: int = 100,
        aux_loss: bool = True,
    ):
        """
        Args:
            backbone: a Detectron2 backbone; its last output feature is used (C channels).
            position_embedding: must produce D channels (``num_pos_feats = D / 2``).
            transformer: the encoder-decoder of width D.
            num_classes: K; the class head has K + 1 outputs, the last one is no-object.
            num_queries: Q.
            aux_loss: return the heads of every decoder layer in training (``aux_outputs``).
        """
        super().__init__()
        shapes = backbone.output_shape()
        self.in_feature = list(shapes)[-1]
        d_model = transformer.d_model
        if 2 * position_embedding.num_pos_feats != d_model:
            raise ValueError(
                f"position embedding gives {2 * position_embedding.num_pos_feats} channels, "
                f"the transformer expects d_model={d_model}"
            )
        self.backbone = backbone
        self.position_embedding = position_embedding
        self.transformer = transformer
        self.input_proj = nn.Conv2d(shapes[self.in_feature].channels, d_model, kernel_size=1)
        self.query_embed = nn.Embedding(num_queries, d_model)
        self.class_embed = nn.Linear(d_model, num_classes + 1)
        self.bbox_embed = MLP(d_model, d_model, 4, 3)
        self.num_classes = num_classes
        self.num_queries = num_queries
        self.aux_loss = aux_loss

    def forward(self, images: ImageList) -> Dict[str, torch.Tensor]:
        """
        Args:
            images: normalised, zero-padded images (N, 3, H, W) with their unpadded sizes.

        Returns:
            dict with
            * ``pred_logits``: (N, Q, K + 1) class logits of the last decoder layer;
            * ``pred_boxes``: (N, Q, 4) sigmoid (cx, cy, w, h), relative to each unpadded image;
            * ``embeddings``: (N, Q, D) last decoder layer state after the final LayerNorm;
            * ``features``: (N, C, h, w) backbone C5 map;
            * ``feature_mask``: (N, h, w) bool, True on padding (the image mask resized to
              (h, w) by nearest interpolation, as DETR);
            * ``memory``: (N, D, h, w) encoder output;
            * ``extra_features`` (only when the backbone outputs more maps than C5): name ->
              (map, padding mask), e.g. ``"res4"`` for an IRE on a finer map;
            * ``aux_outputs`` (training with ``aux_loss`` only): L - 1 dicts with the
              ``pred_logits`` and ``pred_boxes`` of the earlier decoder layers.
        """
        maps = self.backbone(images.tensor)
        features = maps[self.in_feature]
        image_mask = padding_mask(images)
        mask = F.interpolate(image_mask[None].float(), size=features.shape[-2:]).to(torch.bool)[0]
        pos = self.position_embedding(mask).to(features.dtype)
        hs, memory = self.transformer(self.input_proj(features), mask, self.query_embed.weight, pos)

        with_aux = self.aux_loss and self.training
        states = hs if with_aux else hs[-1:]
        logits = self.class_embed(states)
        boxes = self.bbox_embed(states).sigmoid()
        out = {
            "pred_logits": logits[-1],
            "pred_boxes": boxes[-1],
            "embeddings": hs[-1],
            "features": features,
            "feature_mask": mask,
            "memory": memory,
        }
        extra = {k: v for k, v in maps.items() if k != self.in_feature}
        if extra:  # finer maps the backbone also outputs (out_features), with their masks
            out["extra_features"] = {
                k: (v, F.interpolate(image_mask[None].float(), size=v.shape[-2:]).to(torch.bool)[0])
                for k, v in extra.items()
            }
        if with_aux:
            out["aux_outputs"] = [
                {"pred_logits": a, "pred_boxes": b} for a, b in zip(logits[:-1], boxes[:-1])
            ]
        return out


@META_ARCH_REGISTRY.register()
class DETRDetector(nn.Module):
    """DETR behind Detectron2's detector contract.

    Training: ``forward(batched_inputs)`` with ``"image"`` (uint8 RGB (3, H, W)) and
    ``"instances"`` (``gt_boxes`` in input pixels, ``gt_classes``) returns the weighted set
    criterion losses (keys ``loss_*`` only).
    Inference: returns per image ``{"instances": Instances(pred_boxes, scores, pred_classes)}`` in
    the original image size (``"height"``, ``"width"``), one row per query whose best
    non-background softmax score exceeds ``score_thresh`` (0 keeps all Q), as DETR's
    ``PostProcess``.
    """

    def __init__(
        self,
        *,
        detr: DETR,
        criterion: Optional[SetCriterion],
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        # Inference parameters
        score_thresh: float = 0.0,
        # Checkpoint parameters
        strict_checkpoint: bool = True,
    ):
        """
        Args:
            detr: the network.
            criterion: the set criterion; None for a detector that is never trained.
            pixel_mean, pixel_std: RGB, on the 0-255 scale (ImageNet statistics x 255).
            score_thresh: keep queries whose score is above this in inference.
            strict_checkpoint: Detectron2's checkpointer loads with ``strict=False`` and only
                logs missing weights, which would leave a silently random detector; with True,
                :meth:`load_state_dict` raises when keys are missing or unexpected. Set False to
                start from a partial checkpoint on purpose (e.g. a backbone alone).
        """
        super().__init__()
        self.detr = detr
        self.criterion = criterion
        self.score_thresh = score_thresh
        self.strict_checkpoint = strict_checkpoint
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        if self.pixel_mean.shape != self.pixel_std.shape:
            raise ValueError(f"{pixel_mean} and {pixel_std} have different shapes")

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: List[Dict]) -> ImageList:
        """Normalise each ``x["image"]`` (uint8 RGB (3, H_i, W_i)) and zero-pad the batch."""
        images = [
            (x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs
        ]
        return ImageList.from_tensors(images)

    def forward(self, batched_inputs: List[Dict]):
        """See the class docstring."""
        images = self.preprocess_image(batched_inputs)
        outputs = self.detr(images)
        if self.training:
            if self.criterion is None:
                raise RuntimeError("DETRDetector was built without a criterion: cannot train")
            gt = [x["instances"].to(self.device) for x in batched_inputs]
            return self.criterion(outputs, self.prepare_targets(gt))

        results = self.inference(outputs["pred_logits"], outputs["pred_boxes"], images.image_sizes)
        processed = []
        for result, inputs, size in zip(results, batched_inputs, images.image_sizes):
            height = inputs.get("height", size[0])
            width = inputs.get("width", size[1])
            processed.append({"instances": detector_postprocess(result, height, width)})
        return processed

    @staticmethod
    def prepare_targets(gt_instances: List[Instances]) -> List[Dict[str, torch.Tensor]]:
        """Instances with ``gt_boxes`` (M_i, 4) xyxy in input pixels and ``gt_classes`` (M_i,)
        -> DETR targets: ``labels`` (M_i,), ``boxes`` (M_i, 4) cxcywh / unpadded image size."""
        targets = []
        for inst in gt_instances:
            h, w = inst.image_size
            scale = torch.as_tensor([w, h, w, h], dtype=torch.float32, device=inst.gt_boxes.device)
            boxes = box_convert(inst.gt_boxes.tensor / scale, "xyxy", "cxcywh")
            targets.append({"labels": inst.gt_classes.long(), "boxes": boxes})
        return targets

    def inference(
        self, pred_logits: torch.Tensor, pred_boxes: torch.Tensor, image_sizes
    ) -> List[Instances]:
        """
        Args:
            pred_logits: (N, Q, K + 1).
            pred_boxes: (N, Q, 4) sigmoid cxcywh.
            image_sizes: N (h, w) unpadded input sizes.

        Returns:
            N Instances of the input size with ``pred_boxes`` (xyxy pixels), ``scores`` (softmax
            of the best class, no-object dropped) and ``pred_classes``.
        """
        scores, labels = pred_logits.softmax(-1)[..., :-1].max(-1)
        results = []
        for score, label, box, (h, w) in zip(scores, labels, pred_boxes, image_sizes):
            result = Instances((h, w))
            xyxy = box_convert(box, "cxcywh", "xyxy")
            result.pred_boxes = Boxes(xyxy * xyxy.new_tensor([w, h, w, h]))
            result.scores = score
            result.pred_classes = label
            if self.score_thresh > 0:
                result = result[score > self.score_thresh]
            results.append(result)
        return results

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict`` that raises on missing or unexpected keys when
        ``strict_checkpoint`` is set, whatever ``strict`` the caller passes."""
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if self.strict_checkpoint and (result.missing_keys or result.unexpected_keys):
            raise RuntimeError(
                "DETRDetector: incomplete checkpoint (convert it with "
                "tools/convert_detr_weights.py, or build the model with strict_checkpoint=False "
                f"to allow this). Missing keys: {result.missing_keys[:10]} "
                f"({len(result.missing_keys)} in all); unexpected keys: "
                f"{result.unexpected_keys[:10]} ({len(result.unexpected_keys)} in all)"
            )
        return result


def get_detr_optimizer_params(model: nn.Module, *, backbone_lr: float) -> List[Dict]:
    """DETR's two parameter groups: trainable backbone weights at ``backbone_lr``, everything
    else at the optimizer's lr. Frozen parameters (``requires_grad=False``) are left out, so
    they get no optimizer state.

    Returns:
        ``[{"params": [...]}, {"params": [...], "lr": backbone_lr}]``, empty groups dropped.
    """
    groups = {"other": [], "backbone": []}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups["backbone" if "backbone" in name.split(".") else "other"].append(param)
    params = [{"params": groups["other"]}, {"params": groups["backbone"], "lr": backbone_lr}]
    return [g for g in params if g["params"]]
