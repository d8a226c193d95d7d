"""Interaction Reasoning Module (IRM, Sec. 3.4-3.5, Eq. 9 and 20), after UPT's interaction head.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections` and :mod:`rmlr.modeling.pairs`):
    R_max: most entities in one image      S: spatial encoding width (512)
    U: cooperative-layer representation width (512)     T~: pair-token width (1024)
    Og, Om: widths of g^v and m^v (512, 0 when absent)  H: IRM width (512)
    C: channels of the pooled C5 feature of UPT's global branch (0 when absent)

Following UPT (https://github.com/fredzzhang/upt/blob/main/interaction_head.py), per image:

1. Box-pair spatial encodings for every ordered pair of real entities (36 features -> MLP -> S),
   in float32 also under autocast; padding slots of the (N, R_max, R_max) grid stay zero.
2. Cooperative layers (UPT's "modified encoder", 2 layers): each entity token (D) receives
   messages from every entity of its image; the attention logit of sender a to receiver b is a
   per-head linear function of (u_a, u_b, p_ab), normalised over the senders a; the message is a
   per-head linear map of u_a * p_ab (u: unary features, p: pairwise spatial features, both
   projected to U and split into heads); then residual + LayerNorm and a GELU FFN (4 D) with
   residual + LayerNorm.
3. Pair tokens s~ (the paper's S~): UPT's multi-branch fusion of the two refined entity tokens
   with the pair's spatial encoding. UPT's 16 branches ``relu(sum_c W3_c relu(W1_c a * W2_c s))``
   equal one branch of width ``16 x (U / 16)`` (the branch sums are one matrix product on the
   concatenated branches), so we write it as such; width T~ = 1024 (Appendix B: "we concatenate
   human and object tokens to construct a 1024-dimensional vector").
   Optionally (``image_feature_dim > 0``, the UPT plain model) UPT's global branch ``mbf_g``: the
   same fusion of the image's average-pooled C5 feature with the pair's spatial encoding,
   concatenated to the pair token (UPT: 512 + 512 = 1024).
4. Eq. 9: ``H^v = FC(cat(g^v, s~, m^v))`` -> H (g^v / m^v from the IRE; left out when the IRE is
   ablated: Table 2's "plain model" and "w/o Rm" use the entity tokens alone). Eq. 9 gives H^v the
   text width D^l, 512 for the paper's MobileBERT: H = 512 (UPT's competitive layer is 1024 wide;
   512 also keeps the added inference cost within about 2% of DETR-R50). With ``fuse=False``
   (UPT, no IRE) the pair tokens enter the competitive layer as they are (T~ must equal H).
5. Competitive layer(s) (paper: 1; Table 8: 1 or 2): post-norm transformer encoder layers over all
   pairs of one image (UPT's layer: 8 heads, FFN 2 x H, GELU, LayerNorm eps 1e-12) -> O^v.
6. Classifier ``FFN_o`` (Eq. 20): a linear layer to the V verb logits.
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..attention_layers import TransformerEncoderLayer, pack_sequences, unpack_sequences
from ..pairs import HOIPairs
from .cooperative_layer import CooperativeLayer

__all__ = ["MultiBranchFusion", "InteractionReasoningModule", "average_valid_cells"]


def average_valid_cells(features: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w), (N, h, w) bool (True on padding) -> (N, C): each image's feature map averaged
    over its valid cells, in float32 (UPT's global average pooling, without the batch padding
    that makes UPT's pooled feature depend on the other images of the batch)."""
    valid = (~padding_mask).float()
    with torch.autocast(device_type=features.device.type, enabled=False):
        pooled = torch.einsum("nchw,nhw->nc", features.float(), valid)
    return pooled / valid.sum(dim=(1, 2)).clamp(min=1)[:, None]


class MultiBranchFusion(nn.Module):
    """UPT's multi-branch fusion of appearance and spatial features (see the module docstring):
    ``relu(W3 relu(W1 a * W2 s))``."""

    def __init__(self, *, appearance_dim: int, spatial_dim: int, hidden_dim: int, output_dim: int):
        super().__init__()
        self.appearance = nn.Linear(appearance_dim, hidden_dim)
        self.spatial = nn.Linear(spatial_dim, hidden_dim)
        self.output = nn.Linear(hidden_dim, output_dim)

    def forward(self, appearance: torch.Tensor, spatial: torch.Tensor) -> torch.Tensor:
        """(P, appearance_dim), (P, spatial_dim) -> (P, output_dim)."""
        return F.relu(self.output(F.relu(self.appearance(appearance) * self.spatial(spatial))))


class InteractionReasoningModule(nn.Module):
    """Cooperative layers, pair tokens, Eq. 9 fusion, competitive layers and verb classifier."""

    def __init__(
        self,
        *,
        spatial_encoder: nn.Module,
        num_verbs: int,
        unary_dim: int = 256,
        spatial_dim: int = 512,
        num_cooperative_layers: int = 2,
        cooperative_dim: int = 512,
        cooperative_heads: int = 8,
        pair_dim: int = 1024,
        image_feature_dim: int = 0,
        image_branch_dim: int = 0,
        fuse: bool = True,
        global_dim: int = 512,
        cue_dim: int = 512,
        hidden_dim: int = 512,
        num_layers: int = 1,
        num_heads: int = 8,
        ffn_dim: int = 1024,
        dropout: float = 0.1,
        norm_eps: float = 1e-12,
    ):
        """
        Args:
            spatial_encoder: a :class:`~rmlr.modeling.interaction_reasoning.spatial_encoding.BoxPairSpatialEncoder`
                with output width ``spatial_dim``.
            num_verbs: V.
            unary_dim: D, DETR decoder width.
            spatial_dim: S.
            num_cooperative_layers: UPT: 2.
            cooperative_dim: U, width inside the cooperative layers (UPT: 512).
            cooperative_heads: heads of the cooperative layers (UPT: 8).
            pair_dim: width of the pair fusion's output (Appendix B: 1024; UPT: 512).
            image_feature_dim: C, channels of the pooled C5 feature fed to UPT's global branch
                ``mbf_g``; 0: no global branch (RmLR: g^v comes from the IRE).
            image_branch_dim: output width of ``mbf_g`` (UPT: 512); the pair token s~ is then
                ``pair_dim + image_branch_dim`` wide (T~).
            fuse: Eq. 9's linear fusion to H; False (UPT) feeds s~ to the competitive layers
                directly (needs no g^v / m^v and T~ == H).
            global_dim: Og, width of g^v; 0 when there is no IRE.
            cue_dim: Om, width of m^v; 0 when there is no IRE.
            hidden_dim: H, width of H^v and O^v (Eq. 9: D^l = 512; UPT's competitive layer: 1024).
            num_layers: competitive layers (paper: 1).
            num_heads: heads of the competitive layers.
            ffn_dim: FFN width of the competitive layers (UPT: 2 x H).
            dropout: dropout of all layers.
            norm_eps: LayerNorm epsilon of the competitive layers (UPT's ``pocket``: 1e-12).
        """
        super().__init__()
        self.spatial_encoder = spatial_encoder
        self.cooperative_layers = nn.ModuleList(
            [
                CooperativeLayer(
                    unary_dim=unary_dim,
                    spatial_dim=spatial_dim,
                    representation_dim=cooperative_dim,
                    num_heads=cooperative_heads,
                    dropout=dropout,
                )
                for _ in range(num_cooperative_layers)
            ]
        )
        self.pair_fusion = MultiBranchFusion(
            appearance_dim=2 * unary_dim,
            spatial_dim=spatial_dim,
            hidden_dim=cooperative_dim,
            output_dim=pair_dim,
        )
        if (image_feature_dim > 0) != (image_branch_dim > 0):
            raise ValueError(
                "IRM: image_feature_dim and image_branch_dim must both be > 0 (UPT's global "
                f"branch) or both 0, got {image_feature_dim} and {image_branch_dim}"
            )
        self.image_feature_dim = image_feature_dim
        self.image_fusion = (
            MultiBranchFusion(
                appearance_dim=image_feature_dim,
                spatial_dim=spatial_dim,
                hidden_dim=cooperative_dim,
                output_dim=image_branch_dim,
            )
            if image_feature_dim > 0
            else None
        )
        token_dim = pair_dim + image_branch_dim
        self.global_dim = global_dim
        self.cue_dim = cue_dim
        if fuse:
            self.fusion = nn.Linear(global_dim + token_dim + cue_dim, hidden_dim)
        elif global_dim or cue_dim or token_dim != hidden_dim:
            raise ValueError(
                "IRM: fuse=False needs global_dim = cue_dim = 0 and a pair token as wide as "
                f"hidden_dim, got {global_dim}, {cue_dim}, {token_dim} vs {hidden_dim}"
            )
        else:
            self.fusion = nn.Identity()
        self.competitive_layers = nn.ModuleList(
            [
                TransformerEncoderLayer(
                    embed_dim=hidden_dim,
                    num_heads=num_heads,
                    ffn_dim=ffn_dim,
                    dropout=dropout,
                    activation="gelu",
                    norm_eps=norm_eps,
                )
                for _ in range(num_layers)
            ]
        )
        self.classifier = nn.Linear(hidden_dim, num_verbs)
        self.hidden_dim = hidden_dim
        self.num_verbs = num_verbs

    def pair_tokens(
        self,
        pairs: HOIPairs,
        image_hw: torch.Tensor,
        image_features: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Steps 1-3: (P, T~) pair tokens s~ from cooperatively refined entity tokens.

        Args:
            pairs: P pairs of N images.
            image_hw: (N, 2) input-image height and width of each image.
            image_features: (N, C) pooled C5 features for UPT's global branch, or None.
        """
        n = pairs.num_images
        tokens, padding = pack_sequences(pairs.entity_embeddings, pairs.entity_image, n)
        boxes, _ = pack_sequences(pairs.entity_boxes, pairs.entity_image, n)
        r = boxes.shape[1]
        # Encode the real (a, b) entity pairs only: a padding slot's zero box paired with a real
        # box gives features ~1e16 (float16 overflow, then 0 * inf = NaN in the cooperative
        # layer). Padding slots keep zero encodings; the cooperative layers mask them anyway.
        real = ~padding
        img, a, b = torch.nonzero(real[:, :, None] & real[:, None, :], as_tuple=True)
        encoded = self.spatial_encoder(boxes[img, a], boxes[img, b], image_hw[img])
        spatial = encoded.new_zeros(n, r, r, encoded.shape[-1])
        spatial[img, a, b] = encoded
        tokens = tokens.to(spatial.dtype)
        for layer in self.cooperative_layers:
            tokens = layer(tokens, spatial, padding)
        unary = unpack_sequences(tokens, padding)
        counts = torch.bincount(pairs.entity_image, minlength=n)
        slot = (
            torch.arange(unary.shape[0], device=unary.device)
            - (counts.cumsum(0) - counts)[pairs.entity_image]
        )
        h, o = pairs.human_index, pairs.object_index
        pair_spatial = spatial[pairs.image_index, slot[h], slot[o]]
        tokens = self.pair_fusion(torch.cat([unary[h], unary[o]], dim=1), pair_spatial)
        if self.image_fusion is None:
            return tokens
        image = self.image_fusion(image_features[pairs.image_index], pair_spatial)
        return torch.cat([tokens, image], dim=1)

    def forward(
        self,
        pairs: HOIPairs,
        image_hw: torch.Tensor,
        global_context: Optional[torch.Tensor] = None,
        cues: Optional[torch.Tensor] = None,
        image_features: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            pairs: P pairs of N images.
            image_hw: (N, 2) input-image height and width.
            global_context: (N, Og) g^v, or None without IRE.
            cues: (P, Om) m^v, or None without IRE.
            image_features: (N, C) average-pooled C5 features (UPT's global branch), given
                exactly when ``image_feature_dim > 0`` (see :func:`average_valid_cells`).

        Returns:
            features: (P, H) O^v, the competitive layers' output.
            logits: (P, V) verb logits (not yet masked to valid verbs).
        """
        if (global_context is None) != (self.global_dim == 0) or (cues is None) != (
            self.cue_dim == 0
        ):
            raise ValueError(
                "IRM: g^v / m^v must be given exactly when global_dim / cue_dim are non-zero "
                f"(global_dim={self.global_dim}, cue_dim={self.cue_dim})"
            )
        if (image_features is None) != (self.image_feature_dim == 0):
            raise ValueError(
                "IRM: image_features must be given exactly when image_feature_dim > 0 "
                f"(image_feature_dim={self.image_feature_dim})"
            )
        parts = [self.pair_tokens(pairs, image_hw, image_features)]
        if global_context is not None:
            parts.insert(0, global_context[pairs.image_index])
        if cues is not None:
            parts.append(cues)
        x = self.fusion(torch.cat(parts, dim=1))
        packed, padding = pack_sequences(x, pairs.image_index, pairs.num_images)
        for layer in self.competitive_layers:
            packed = layer(packed, key_padding_mask=padding)
        features = unpack_sequences(packed, padding)
        return features, self.classifier(features)
