"""UPT's cooperative layer ("modified encoder"): each entity token receives messages from every
entity of its image, weighted by attention computed from both tokens and the pair's spatial
encoding (https://github.com/fredzzhang/upt/blob/main/interaction_head.py, ``ModifiedEncoderLayer``).

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    R_max: most entities in one image      S: spatial encoding width
    U: representation width inside the layer

The attention logit of sender a to receiver b is a per-head linear function of (u_a, u_b, p_ab),
normalised over the senders a; the message is a per-head linear map of u_a * p_ab (u: unary
features, p: pairwise spatial features, both projected to U and split into heads); then residual +
LayerNorm and a GELU FFN (4 D) with residual + LayerNorm.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..attention_layers import FeedForward

__all__ = ["CooperativeLayer"]


class CooperativeLayer(nn.Module):
    """UPT's cooperative ("modified encoder") layer over the entities of each image."""

    def __init__(
        self,
        *,
        unary_dim: int = 256,
        spatial_dim: int = 512,
        representation_dim: int = 512,
        num_heads: int = 8,
        ffn_ratio: int = 4,
        dropout: float = 0.1,
    ):
        """
        Args:
            unary_dim: D, width of the entity tokens.
            spatial_dim: S, width of the pairwise spatial encodings.
            representation_dim: U, width of the projected unary / pairwise features.
            num_heads: heads; each has ``U / num_heads`` channels.
            ffn_ratio: FFN width as a multiple of D (UPT: 4).
            dropout: dropout after the aggregation and in the FFN.
        """
        super().__init__()
        if representation_dim % num_heads != 0:
            raise ValueError(
                f"representation_dim={representation_dim} not divisible by {num_heads}"
            )
        self.num_heads = num_heads
        self.head_dim = representation_dim // num_heads
        self.unary = nn.Linear(unary_dim, representation_dim)
        self.pairwise = nn.Linear(spatial_dim, representation_dim)
        # One linear map of cat(u_sender, u_receiver, p) per head, split into its three blocks.
        self.attn_sender = nn.Parameter(torch.empty(num_heads, self.head_dim))
        self.attn_receiver = nn.Parameter(torch.empty(num_heads, self.head_dim))
        self.attn_pairwise = nn.Parameter(torch.empty(num_heads, self.head_dim))
        self.attn_bias = nn.Parameter(torch.zeros(num_heads))
        self.message_weight = nn.Parameter(torch.empty(num_heads, self.head_dim, self.head_dim))
        self.message_bias = nn.Parameter(torch.zeros(num_heads, self.head_dim))
        self.aggregate = nn.Linear(representation_dim, unary_dim)
        self.norm = nn.LayerNorm(unary_dim)
        self.dropout = nn.Dropout(dropout)
        self.ffn = FeedForward(
            embed_dim=unary_dim, ffn_dim=unary_dim * ffn_ratio, dropout=dropout, activation="gelu"
        )
        self.ffn_norm = nn.LayerNorm(unary_dim)
        self.ffn_dropout = nn.Dropout(dropout)
        self._reset_parameters()

    def _reset_parameters(self):
        # nn.Linear's default initialisation, for the per-head maps written as parameters.
        attn_bound = 1.0 / (3 * self.head_dim) ** 0.5
        msg_bound = 1.0 / self.head_dim**0.5
        for p in (self.attn_sender, self.attn_receiver, self.attn_pairwise):
            nn.init.uniform_(p, -attn_bound, attn_bound)
        nn.init.uniform_(self.attn_bias, -attn_bound, attn_bound)
        nn.init.uniform_(self.message_weight, -msg_bound, msg_bound)
        nn.init.uniform_(self.message_bias, -msg_bound, msg_bound)

    def forward(
        self, x: torch.Tensor, spatial: torch.Tensor, padding_mask: torch.Tensor
    ) -> torch.Tensor:
        """
        Args:
            x: (N, R_max, D) entity tokens, packed per image.
            spatial: (N, R_max, R_max, S), [n, a, b] = encoding of the pair (a, b).
            padding_mask: (N, R_max) bool, True on padding.

        Returns:
            (N, R_max, D); padded rows are zero.
        """
        n, r, _ = x.shape
        heads, dim = self.num_heads, self.head_dim
        u = F.relu(self.unary(x)).view(n, r, heads, dim).permute(0, 2, 1, 3)  # (N, h, R, d)
        p = F.relu(self.pairwise(spatial)).view(n, r, r, heads, dim).permute(0, 3, 1, 2, 4)
        logits = (
            torch.einsum("nhad,hd->nha", u, self.attn_sender)[:, :, :, None]
            + torch.einsum("nhbd,hd->nhb", u, self.attn_receiver)[:, :, None, :]
            + torch.einsum("nhabd,hd->nhab", p, self.attn_pairwise)
            + self.attn_bias[None, :, None, None]
        )
        sender_pad = padding_mask[:, None, :, None]
        logits = logits.masked_fill(sender_pad, torch.finfo(logits.dtype).min)
        weights = logits.softmax(dim=2).masked_fill(sender_pad, 0.0)  # normalised over senders
        messages = (
            torch.einsum("nhabd,hde->nhabe", u[:, :, :, None, :] * p, self.message_weight)
            + self.message_bias[None, :, None, None, :]
        )
        aggregated = (weights[..., None] * messages).sum(dim=2)  # (N, h, R, d) per receiver
        aggregated = aggregated.permute(0, 2, 1, 3).reshape(n, r, heads * dim)
        x = self.norm(x + self.dropout(self.aggregate(F.relu(aggregated))))
        x = self.ffn_norm(x + self.ffn_dropout(self.ffn(x)))
        return x.masked_fill(padding_mask[..., None], 0.0)
