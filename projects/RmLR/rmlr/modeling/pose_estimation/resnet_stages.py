"""ResNet stages of any width for small pose backbones (Detectron2's ``make_default_stages`` fixes
the widths of ResNet-18..152).

Shape shorthand: none (builds modules only).
"""

from typing import List, Sequence

from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock, ResNet

__all__ = ["make_resnet_stages"]


def make_resnet_stages(
    *,
    num_blocks_per_stage: Sequence[int],
    stem_out_channels: int,
    res2_out_channels: int,
    block: str = "basic",
    norm: str = "BN",
) -> List[list]:
    """Stages res2..res5 (strides 1, 2, 2, 2; widths ``res2_out_channels * 2**i``) of
    Detectron2's ``BasicBlock`` (``block="basic"``) or ``BottleneckBlock`` (bottleneck width a
    quarter of the output), for ``ResNet(stem=..., stages=...)``."""
    blocks = {"basic": BasicBlock, "bottleneck": BottleneckBlock}
    if block not in blocks:
        raise ValueError(f"block must be one of {sorted(blocks)}, got {block!r}")
    stages, in_channels = [], stem_out_channels
    for i, n in enumerate(num_blocks_per_stage):
        out_channels = res2_out_channels * 2**i
        kwargs = dict(norm=norm)
        if block == "bottleneck":
            kwargs["bottleneck_channels"] = out_channels // 4
        stages.append(
            ResNet.make_stage(
                block_class=blocks[block],
                num_blocks=n,
                stride_per_block=[1 if i == 0 else 2] + [1] * (n - 1),
                in_channels=in_channels,
                out_channels=out_channels,
                **kwargs,
            )
        )
        in_channels = out_channels
    return stages
