"""Attention building blocks shared by the IRE, the IRM and cross-modal learning.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    B: sequences in a batch (images, or associated pairs)    L_q, L_k: query / key lengths
    E: embedding width of a layer                             F: feed-forward width
    G: number of groups of a ragged set (images)              X: a ragged set's total length

The attention runs PyTorch's fused ``scaled_dot_product_attention``, except while the model is
being traced (``torch.jit.trace``, which ``fvcore``'s FLOP counter uses): then it is written with
explicit matrix products, the same function, so that the counter sees every multiply-accumulate
(it does not count the fused kernel); the benchmark of RmLR against DETR relies on that. The encoder layer is the post-norm layer of DETR / UPT's ``pocket`` library
(https://github.com/fredzzhang/pocket/blob/master/pocket/models/transformers.py): residual, then
LayerNorm, after the attention and after the feed-forward network.
"""

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MultiHeadAttention",
    "FeedForward",
    "TransformerEncoderLayer",
    "pack_sequences",
    "unpack_sequences",
]


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (Eq. 10), ``softmax(q k^T / sqrt(d)) v``, with
    linear query / key / value / output projections.

    Keys and values may have their own width (``key_dim``), e.g. text embeddings attended to by
    visual queries.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        num_heads: int,
        key_dim: Optional[int] = None,
        dropout: float = 0.0,
    ):
        """
        Args:
            embed_dim: E, width of the queries and of the output.
            num_heads: attention heads; must divide ``embed_dim``.
            key_dim: width of the keys / values before projection (default ``embed_dim``).
            dropout: dropout on the attention weights.
        """
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        key_dim = embed_dim if key_dim is None else key_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.query = nn.Linear(embed_dim, embed_dim)
        self.key = nn.Linear(key_dim, embed_dim)
        self.value = nn.Linear(key_dim, embed_dim)
        self.output = nn.Linear(embed_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: Optional[torch.Tensor] = None,
        attn_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        Args:
            query: (B, L_q, E).
            key, value: (B, L_k, key_dim).
            key_padding_mask: (B, L_k) bool, True for keys to ignore (for every query).
            attn_mask: (B, L_q, L_k) bool, True where a query must ignore a key.
                Masked keys get the most negative finite logit, so a row whose keys are all
                masked (a padded sequence) stays finite (the mean of the values) instead of NaN;
                callers ignore such rows.

        Returns:
            (B, L_q, E).
        """
        q = self._split(self.query(query))
        k = self._split(self.key(key))
        v = self._split(self.value(value))
        masked = None  # (B, 1, L_q or 1, L_k) bool, True where a key is ignored
        if key_padding_mask is not None:
            masked = key_padding_mask[:, None, None, :]
        if attn_mask is not None:
            masked = attn_mask[:, None] if masked is None else masked | attn_mask[:, None]
        if torch.jit.is_tracing():
            out = self._explicit_attention(q, k, v, masked)
        else:
            bias = None
            if masked is not None:
                bias = torch.zeros(masked.shape, dtype=q.dtype, device=q.device)
                bias = bias.masked_fill(masked, torch.finfo(q.dtype).min)
            dropout = self.dropout.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
        return self.output(out.transpose(1, 2).flatten(2))

    def _explicit_attention(self, q, k, v, masked):
        """The same attention with explicit matrix products (see the module docstring)."""
        logits = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if masked is not None:
            logits = logits.masked_fill(masked, torch.finfo(logits.dtype).min)
        return torch.matmul(self.dropout(logits.softmax(dim=-1)), v)


class FeedForward(nn.Module):
    """Two linear layers with an activation: ``Linear(E, F) -> act -> dropout -> Linear(F, E)``."""

    def __init__(
        self, *, embed_dim: int, ffn_dim: int, dropout: float = 0.0, activation: str = "relu"
    ):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.activation = F.relu if activation == "relu" else F.gelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.activation(self.fc1(x))))


class TransformerEncoderLayer(nn.Module):
    """Post-norm self-attention encoder layer.

    ``x = LN(x + drop(attn(x + pos, x + pos, x)))``, then ``x = LN(x + drop(ffn(x)))``. Positions
    (optional) are added to queries and keys only, as in DETR's encoder.
    """

    def __init__(
        self,
        *,
        embed_dim: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_eps: float = 1e-5,
    ):
        """
        Args:
            embed_dim: E.
            num_heads: attention heads.
            ffn_dim: F, width of the feed-forward network.
            dropout: dropout on attention weights, after the attention and in the FFN.
            activation: ``"relu"`` (DETR) or ``"gelu"`` (UPT's ``pocket`` layers).
            norm_eps: LayerNorm epsilon (``pocket`` uses 1e-12, PyTorch 1e-5).
        """
        super().__init__()
        self.attention = MultiHeadAttention(
            embed_dim=embed_dim, num_heads=num_heads, dropout=dropout
        )
        self.ffn = FeedForward(
            embed_dim=embed_dim, ffn_dim=ffn_dim, dropout=dropout, activation=activation
        )
        self.norm1 = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.norm2 = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        key_padding_mask: Optional[torch.Tensor] = None,
        pos: Optional[torch.Tensor] = None,
        rows: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        Args:
            x: (B, L, E).
            key_padding_mask: (B, L) bool, True on padding.
            pos: (B, L, E) positional embeddings, or None.
            rows: (M,) int64 positions whose outputs are wanted (default: all L). Every output
                row depends only on its own query and on all keys, so the M rows are computed
                alone: the same values, for M / L of the queries' cost.

        Returns:
            (B, L, E), or (B, M, E) with ``rows``.
        """
        qk = x if pos is None else x + pos
        q = qk if rows is None else qk[:, rows]
        residual = x if rows is None else x[:, rows]
        x = self.norm1(residual + self.dropout1(self.attention(q, qk, x, key_padding_mask)))
        return self.norm2(x + self.dropout2(self.ffn(x)))


def pack_sequences(
    x: torch.Tensor, group: torch.Tensor, num_groups: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pack a ragged set into a padded batch, keeping the order inside each group.

    Args:
        x: (X, ...) elements of all groups.
        group: (X,) int64 group of each element, sorted in non-decreasing order.
        num_groups: G.

    Returns:
        packed: (G, max group size, ...), zeros on padding.
        padding_mask: (G, max group size) bool, True on padding.
    """
    counts = torch.bincount(group, minlength=num_groups)
    length = int(counts.max()) if counts.numel() > 0 and x.shape[0] > 0 else 0
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(x.shape[0], device=x.device) - starts[group]
    packed = x.new_zeros((num_groups, length) + tuple(x.shape[1:]))
    packed[group, slot] = x
    padding_mask = torch.ones(num_groups, length, dtype=torch.bool, device=x.device)
    padding_mask[group, slot] = False
    return packed, padding_mask


def unpack_sequences(packed: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_sequences`: (G, L, ...) -> (X, ...) in group order."""
    return packed[~padding_mask]
