"""DETR's encoder-decoder transformer (post-norm, positions added to queries and keys).

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)
    L: decoder layers             S = h * w: encoder tokens

Computes the same function as DETR's ``Transformer`` with ``normalize_before=False`` and
``return_intermediate_dec=True`` (Carion et al., ECCV 2020): in every layer the position
embedding is added to the queries and keys of each attention but never to its values; the encoder
has no final norm; every decoder output (intermediate or last) goes through the one shared final
LayerNorm; the decoder starts from zeros with the learned query embeddings as query positions.
Module and parameter names are DETR's (``self_attn.in_proj_weight``, ``linear1``, ``norm1`` ...) so
official checkpoints map by prefix only. Tensors are batch-first here; DETR is sequence-first,
which only changes the layout, not the arithmetic.
Idea from https://github.com/facebookresearch/detr/blob/main/models/transformer.py
"""

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DETRTransformer", "TransformerEncoderLayer", "TransformerDecoderLayer"]


class TransformerEncoderLayer(nn.Module):
    """Self-attention + FFN, each followed by dropout, residual and LayerNorm (post-norm)."""

    def __init__(self, *, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self, src: torch.Tensor, key_padding_mask: torch.Tensor, pos: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            src: (N, S, D) tokens.
            key_padding_mask: (N, S) bool, True on padding.
            pos: (N, S, D) position embedding.

        Returns:
            (N, S, D)
        """
        q = k = src + pos
        src2 = self.self_attn(
            q, k, value=src, key_padding_mask=key_padding_mask, need_weights=False
        )[0]
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class TransformerDecoderLayer(nn.Module):
    """Self-attention, cross-attention to the memory and FFN, each post-normed."""

    def __init__(self, *, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(
            d_model, nhead, dropout=dropout, batch_first=True
        )
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        memory_key_padding_mask: torch.Tensor,
        pos: torch.Tensor,
        query_pos: torch.Tensor,
    ) -> torch.Tensor:
        """
        Args:
            tgt: (N, Q, D) query states.
            memory: (N, S, D) encoder output.
            memory_key_padding_mask: (N, S) bool, True on padding.
            pos: (N, S, D) position embedding of the memory.
            query_pos: (N, Q, D) learned query embedding.

        Returns:
            (N, Q, D)
        """
        q = k = tgt + query_pos
        tgt2 = self.self_attn(q, k, value=tgt, need_weights=False)[0]
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        tgt2 = self.multihead_attn(
            query=tgt + query_pos,
            key=memory + pos,
            value=memory,
            key_padding_mask=memory_key_padding_mask,
            need_weights=False,
        )[0]
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class TransformerEncoder(nn.Module):
    """A stack of encoder layers (no final norm in DETR's post-norm variant)."""

    def __init__(self, layers: nn.ModuleList):
        super().__init__()
        self.layers = layers

    def forward(self, src, key_padding_mask, pos):
        """(N, S, D), (N, S), (N, S, D) -> (N, S, D)"""
        for layer in self.layers:
            src = layer(src, key_padding_mask, pos)
        return src


class TransformerDecoder(nn.Module):
    """A stack of decoder layers whose outputs all pass through the shared final LayerNorm."""

    def __init__(self, layers: nn.ModuleList, norm: nn.LayerNorm):
        super().__init__()
        self.layers = layers
        self.norm = norm

    def forward(self, tgt, memory, memory_key_padding_mask, pos, query_pos):
        """(N, Q, D), (N, S, D), (N, S), (N, S, D), (N, Q, D) -> (L, N, Q, D)"""
        outputs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, memory_key_padding_mask, pos, query_pos)
            outputs.append(self.norm(tgt))
        return torch.stack(outputs)


class DETRTransformer(nn.Module):
    """DETR's transformer: 6 encoder and 6 decoder layers, 8 heads, FFN 2048 by default."""

    def __init__(
        self,
        *,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
    ):
        """
        Args:
            d_model: token width D.
            nhead: attention heads (D must be divisible by it).
            num_encoder_layers, num_decoder_layers: stack depths.
            dim_feedforward: hidden width of the FFNs.
            dropout: dropout in attention, FFN and residual branches.
        """
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model={d_model} is not divisible by nhead={nhead}")
        kwargs = dict(
            d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward, dropout=dropout
        )
        self.encoder = TransformerEncoder(
            nn.ModuleList(TransformerEncoderLayer(**kwargs) for _ in range(num_encoder_layers))
        )
        self.decoder = TransformerDecoder(
            nn.ModuleList(TransformerDecoderLayer(**kwargs) for _ in range(num_decoder_layers)),
            nn.LayerNorm(d_model),
        )
        self.d_model = d_model
        self.nhead = nhead
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(
        self,
        src: torch.Tensor,
        mask: torch.Tensor,
        query_embed: torch.Tensor,
        pos_embed: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            src: (N, D, h, w) projected C5 features.
            mask: (N, h, w) bool, True on padding.
            query_embed: (Q, D) learned query positions.
            pos_embed: (N, D, h, w) position embedding of ``src``.

        Returns:
            hs: (L, N, Q, D) every decoder layer's output after the final LayerNorm.
            memory: (N, D, h, w) encoder output.
        """
        n, d, h, w = src.shape
        src = src.flatten(2).transpose(1, 2)
        pos = pos_embed.flatten(2).transpose(1, 2)
        key_padding_mask = mask.flatten(1)
        query_pos = query_embed.unsqueeze(0).expand(n, -1, -1)
        tgt = torch.zeros_like(query_pos)

        memory = self.encoder(src, key_padding_mask, pos)
        hs = self.decoder(tgt, memory, key_padding_mask, pos, query_pos)
        return hs, memory.transpose(1, 2).reshape(n, d, h, w)
