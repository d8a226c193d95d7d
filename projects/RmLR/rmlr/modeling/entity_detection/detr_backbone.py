"""DETR's ResNet backbone, built from Detectron2's :class:`ResNet` parts.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)

DETR uses torchvision's ResNet with frozen batch norm. Detectron2's ResNet computes the same
function when it is built with torchvision's conventions, which this module fixes:

* stride in the 3x3 convolution of a bottleneck (``stride_in_1x1=False``), as torchvision;
* ``FrozenBN`` everywhere (eps 1e-5, as DETR's ``FrozenBatchNorm2d``);
* DC5 (``dc5=True``) replaces the stride of res5 by dilation exactly as torchvision's
  ``replace_stride_with_dilation``: the first res5 block keeps dilation 1 in its 3x3 convolution
  (stride 1), the following blocks use dilation 2. Detectron2's own ``RES5_DILATION`` dilates the
  first block too, which is a different function; DETR-DC5 checkpoints need torchvision's layout.
* stem and res2 frozen (``freeze_at=2``): DETR trains only ``layer2``-``layer4``.

Parameter names are Detectron2's (``stem.conv1``, ``res2.0.conv1.norm`` ...); the rename table
from torchvision's names lives in :mod:`rmlr.modeling.entity_detection.detr_weights`.
"""

from typing import Optional, Sequence

from detectron2.modeling.backbone.resnet import BasicStem, BottleneckBlock, ResNet

__all__ = ["build_detr_resnet", "RESNET_BLOCKS"]

# Bottleneck blocks per stage (res2..res5) of the standard depths.
RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def build_detr_resnet(
    *,
    depth: int = 50,
    num_blocks_per_stage: Optional[Sequence[int]] = None,
    stem_out_channels: int = 64,
    res2_out_channels: int = 256,
    dc5: bool = False,
    freeze_at: int = 2,
    norm: str = "FrozenBN",
    out_features: Sequence[str] = ("res5",),
) -> ResNet:
    """Build a bottleneck ResNet that outputs ``res5`` (stride 32, or 16 with DC5).

    Args:
        depth: 50, 101 or 152; ignored when ``num_blocks_per_stage`` is given.
        num_blocks_per_stage: 4 block counts (res2..res5) for non-standard, e.g. tiny, networks.
        stem_out_channels: output channels of the 7x7 stem (64 in standard ResNets).
        res2_out_channels: output channels of res2 (256); each later stage doubles them and the
            bottleneck width is a quarter of a stage's output, as in torchvision.
        dc5: dilate res5 instead of striding it (DETR-DC5).
        freeze_at: stages frozen from the start (2 = stem and res2, DETR's choice).
        norm: ``"FrozenBN"`` (DETR; pre-trained statistics); ``"BN"`` only to train a backbone
            from scratch (the tiny synthetic detector), whose state then has BN counters.

        out_features: the maps returned, ending with "res5" (DETR reads the last one); e.g.
            ``("res4", "res5")`` also gives C4 to an IRE reading a finer map.

    Returns:
        A Detectron2 :class:`ResNet` with ``out_features``; C = ``8 * res2_out_channels``.
    """
    if num_blocks_per_stage is None:
        if depth not in RESNET_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(RESNET_BLOCKS)}, got {depth}")
        num_blocks_per_stage = RESNET_BLOCKS[depth]
    if len(num_blocks_per_stage) != 4 or min(num_blocks_per_stage) < 1:
        raise ValueError(
            f"num_blocks_per_stage needs 4 positive counts, got {num_blocks_per_stage}"
        )
    if res2_out_channels % 4:
        raise ValueError(f"res2_out_channels must be divisible by 4, got {res2_out_channels}")

    stem = BasicStem(in_channels=3, out_channels=stem_out_channels, norm=norm)
    stages = []
    in_channels = stem_out_channels
    for idx, num_blocks in enumerate(num_blocks_per_stage):
        out_channels = res2_out_channels * 2**idx
        is_res5 = idx == 3
        first_stride = 1 if idx == 0 or (is_res5 and dc5) else 2
        dilations = [1] + [2 if is_res5 and dc5 else 1] * (num_blocks - 1)
        stages.append(
            ResNet.make_stage(
                BottleneckBlock,
                num_blocks,
                in_channels=in_channels,
                out_channels=out_channels,
                bottleneck_channels=out_channels // 4,
                stride_per_block=[first_stride] + [1] * (num_blocks - 1),
                dilation_per_block=dilations,
                norm=norm,
                stride_in_1x1=False,
            )
        )
        in_channels = out_channels
    out_features = list(out_features)
    if (
        not out_features
        or out_features[-1] != "res5"
        or len(set(out_features)) != len(out_features)
    ):
        raise ValueError(f"out_features must be distinct and end with 'res5', got {out_features}")
    return ResNet(stem, stages, out_features=out_features, freeze_at=freeze_at)
