"""Interactive Relation Encoder (IRE, Sec. 3.2, Eq. 4-6): re-mining interaction features.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    E: IRE width (C5 projected)       O: output width of m^v and g^v (512)
    G: sample grid side of the masked pooling (pool_size * sampling_ratio)

1. ``X_e = F_enc(X^v)`` (Eq. 4): the C5 map is projected to E channels (a 1x1 convolution,
   written as a linear layer on the cells) and run through a post-norm transformer encoder
   (2 layers) with DETR's sine positions and the padding mask.
2. ``m^v = FC(GAP(mROI(X_e, B~)))`` (Eq. 5): ROIAlign over the union box of each pair where every
   sample point outside *both* the human and the object box is set to zero (Fig. 4: no feature
   interference from the rest of the union box), global average pooling over all samples of the
   union box, then a linear layer to O.
3. ``g^v = FC(GAP(X^v))`` (Eq. 6): the average of the C5 map over the valid (unpadded) cells, then
   a linear layer to O.

Widths (the paper gives none for the IRE): E = 128, 4 heads, FFN 512. At 800x800 (25x25 C5 cells)
the IRE costs 0.61 GMACs (1x1 projection 0.16, two layers 0.45) and the whole HOI head about 0.85,
1.5% of DETR-R50 (budget: 3%). A 2-layer encoder at C5 width 2048 with FFN 2048 would cost about
20 GMACs. At inference the last layer runs its queries only at the cells the pairs' weight maps
read (0.56 GMACs with 60 pairs on a busy 800x800 image, the same values; ``benchmarks/RESULTS.md``,
issue 17).
"""

from typing import Optional, Tuple

import torch
from torch import nn

from ..attention_layers import TransformerEncoderLayer
from .masked_pooling import pool_cells, union_pool_weights, valid_cells

__all__ = ["InteractiveRelationEncoder"]


class InteractiveRelationEncoder(nn.Module):
    """IRE: transformer encoder over C5, masked union-box pooling (m^v) and global context (g^v)."""

    def __init__(
        self,
        *,
        position_embedding: nn.Module,
        in_channels: int = 2048,
        embed_dim: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int = 512,
        dropout: float = 0.1,
        output_dim: int = 512,
        feature_stride: int = 32,
        pool_size: int = 7,
        sampling_ratio: int = 2,
    ):
        """
        Args:
            position_embedding: maps the (N, h, w) padding mask to (N, E, h, w) positions
                (:class:`~rmlr.modeling.entity_detection.position_encoding.PositionEmbeddingSine` with
                ``num_pos_feats = E / 2``).
            in_channels: C, channels of the backbone map.
            embed_dim: E, width of the encoder (C is projected to E by a 1x1 convolution).
            num_layers: encoder layers (paper: 2).
            num_heads: attention heads.
            ffn_dim: feed-forward width of the encoder layers.
            dropout: encoder dropout.
            output_dim: O, width of m^v and g^v (paper: 512).
            feature_stride: input pixels per C5 cell (32; 16 for DC5 backbones).
            pool_size: S, ROIAlign bins per side before GAP.
            sampling_ratio: r, samples per bin side (G = S r samples per side are masked).
        """
        super().__init__()
        pos_channels = 2 * getattr(position_embedding, "num_pos_feats", embed_dim // 2)
        if pos_channels != embed_dim:
            raise ValueError(
                f"IRE: the position embedding gives {pos_channels} channels, embed_dim={embed_dim}"
            )
        self.position_embedding = position_embedding
        self.input_proj = nn.Linear(in_channels, embed_dim)  # a 1x1 convolution on the tokens
        self.layers = nn.ModuleList(
            [
                TransformerEncoderLayer(
                    embed_dim=embed_dim, num_heads=num_heads, ffn_dim=ffn_dim, dropout=dropout
                )
                for _ in range(num_layers)
            ]
        )
        self.pair_fc = nn.Linear(embed_dim, output_dim)
        self.global_fc = nn.Linear(in_channels, output_dim)
        self.output_dim = output_dim
        self.spatial_scale = 1.0 / feature_stride
        self.grid_size = pool_size * sampling_ratio

    def encode(
        self,
        features: torch.Tensor,
        padding_mask: torch.Tensor,
        cells: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Eq. 4. (N, C, h, w), (N, h, w) -> X_e (N, E, h, w) (padded cells hold values the
        pooling never reads).

        With ``cells`` ((M,) int64 flat cell indices ``row * w + column``): X_e at those cells
        only, (N, M, E). The last layer then runs its queries, feed-forward network and norms on
        the M cells alone (its keys and values are still every cell's); the values are those of
        the whole map at these cells.
        """
        n, _, h, w = features.shape
        # the 1x1 projection as one batched product on the channel-major map: neither the
        # product nor its backward (which keeps C5 itself) needs a transposed copy of C5
        proj = self.input_proj
        weight = proj.weight.to(features.dtype).expand(n, -1, -1)  # (N, E, C), a view
        bias = proj.bias.to(features.dtype)[None, :, None]
        tokens = torch.baddbmm(bias, weight, features.flatten(2)).transpose(1, 2)  # (N, h w, E)
        pos = self.position_embedding(padding_mask).to(tokens.dtype).flatten(2).transpose(1, 2)
        flat_mask = padding_mask.flatten(1)
        if not bool(flat_mask.any()):
            flat_mask = None  # no padding: nothing to mask (a zero bias changes nothing)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            rows = cells if i == last else None
            tokens = layer(tokens, key_padding_mask=flat_mask, pos=pos, rows=rows)
        if cells is not None:
            return tokens
        return tokens.transpose(1, 2).reshape(n, -1, h, w)

    def global_context(self, features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """Eq. 6. (N, C, h, w), (N, h, w) -> g^v (N, O), averaging valid cells only."""
        valid = (~padding_mask).to(features.dtype)
        pooled = torch.einsum("nchw,nhw->nc", features, valid)  # one product, no masked copy
        return self.global_fc(pooled / valid.sum(dim=(1, 2)).clamp(min=1)[:, None])

    def forward(
        self,
        features: torch.Tensor,
        padding_mask: torch.Tensor,
        boxes_h: torch.Tensor,
        boxes_o: torch.Tensor,
        image_index: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            features: (N, C, h, w) backbone C5 map X^v.
            padding_mask: (N, h, w) bool, True on padding.
            boxes_h, boxes_o: (P, 4) pair boxes in input-image pixels.
            image_index: (P,) int64.

        Returns:
            m: (P, O) interaction cues m^v (Eq. 5).
            g: (N, O) global context g^v (Eq. 6).
        """
        g = self.global_context(features, padding_mask)
        if boxes_h.shape[0] == 0:
            # No pair in the batch: nothing to pool; the encoder is skipped.
            return g.new_zeros(0, self.output_dim), g
        n, _, h, w = features.shape
        weights = union_pool_weights(
            boxes_h,
            boxes_o,
            valid_cells(padding_mask)[image_index],
            map_hw=(h, w),
            spatial_scale=self.spatial_scale,
            grid_size=self.grid_size,
        ).flatten(
            1
        )  # (P, h w)
        cells = None
        if not self.training:
            # Inference: X_e only where a pair's weight map reads it (the sum leaves out zero
            # terms only). Training keeps the whole map (the same dropout draws as before).
            read = weights.ne(0).any(dim=0)
            if not bool(read.all()):
                cells = read.nonzero().flatten()
                weights = weights[:, cells]
        encoded = self.encode(features, padding_mask, cells)
        if cells is None:
            encoded = encoded.flatten(2).transpose(1, 2)  # (N, h w, E)
        return self.pair_fc(pool_cells(encoded, weights, image_index)), g
