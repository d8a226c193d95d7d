"""DETR's sine position embedding for a padded feature map.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)

The embedding follows DETR's ``PositionEmbeddingSine`` (Carion et al., ECCV 2020): positions are
the cumulative count of valid (non-padding) cells along each axis, normalised by the valid extent
and scaled to ``[0, 2 * pi]``, so an image keeps the same embedding whatever padding it gets in a
batch. Idea from https://github.com/facebookresearch/detr/blob/main/models/position_encoding.py
"""

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine embedding of the (y, x) position of every cell of a feature map.

    The output has ``2 * num_pos_feats`` channels: the first half encodes y, the second x; inside
    each half, channel ``2k`` is ``sin(p / T^(2k / F))`` and ``2k + 1`` is ``cos(p / T^(2k / F))``
    with ``T = temperature`` and ``F = num_pos_feats``. DETR uses ``F = D / 2 = 128``.
    """

    def __init__(
        self,
        *,
        num_pos_feats: int = 128,
        temperature: float = 10000.0,
        normalize: bool = True,
        scale: float = 2 * math.pi,
    ):
        """
        Args:
            num_pos_feats: channels per axis (``D / 2``).
            temperature: the wavelength base ``T``.
            normalize: divide positions by the valid extent of each row / column (DETR: True).
            scale: the normalised positions are multiplied by this (DETR: ``2 * pi``).
        """
        super().__init__()
        if num_pos_feats % 2:
            raise ValueError(f"num_pos_feats must be even, got {num_pos_feats}")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        """
        Args:
            mask: (N, h, w) bool, True on padding.

        Returns:
            (N, 2 * num_pos_feats, h, w) float32 embedding (values on padding are never attended).
        """
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale

        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (
            2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats
        )

        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (
            f"num_pos_feats={self.num_pos_feats}, temperature={self.temperature}, "
            f"normalize={self.normalize}, scale={self.scale:.4f}"
        )
