"""Cross-modal learning (Sec. 3.4, Eq. 10-19): sentence- and word-level knowledge transfer from
the frozen text teacher to the IRE (M^v) and the IRM (O^v). Training only.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections` and :mod:`rmlr.modeling.pairs`):
    H: hidden width of the alignment layers (1024)     L: text width D^l
    A: associated pairs (pairs that match >= 1 GT interaction)
    C: (associated pair, matched sub-sentence) couples  T: word tokens per image (padded)

One :class:`AlignmentBranch` per side, each optional (Table 2's "w/o IRE-KT" / "w/o IRM-KT"):

* the IRE side (the paper's superscript ``a``) takes M^v = {m^v}, the IRE's interaction cues;
* the IRM side (superscript ``m``) takes O^v, the competitive layers' output that the verb
  classifier reads ("logits" side).

This follows the equations: Eq. 16 (L_w^m) aligns O^va and Eq. 17 (L_w^a) aligns M^va, Eq. 18
(L_s^m = D_L1(E_cls, FFN_T^2(O^va))) and Eq. 19 (L_s^a = D_L1(E_cls, FFN_T^1(M^va))). (The
sentence after Eq. 17 names the two sides the other way round; the equations, and Table 7's larger
weights for the ``m`` terms with "knowledge distillation for IRM as the primary", agree with this
reading.)

Per branch:

1. ``L`` self-attention layers (Eq. 11/12; default 2, width H = 1024) over all pairs of an image;
   the input is first projected to H when its width differs (m^v is 512-d).
2. Association: M^va / O^va are the rows of the pairs that match a GT interaction
   (``min IoU >= 0.5``, :func:`~rmlr.modeling.pairs.associate_pairs`).
3. Word level (Eq. 13/14, 16/17), ``word_formulation`` (below). Which words a pair may attend to
   is ``word_keys``: ``"matched"`` (default) = the words of the sub-sentences of the GT
   interactions the pair matches ("variable-length word embedding sequences" per pair), or
   ``"image"`` = all words of the image's annotation text. A pair that matches several GT
   interactions attends to the words of all of them at once (one row per pair).
4. Sentence level (Eq. 18/19): ``sentence_head`` = FFN_T (Linear H -> H, ReLU, Linear H -> L) of
   the associated pair against E_cls of each sub-sentence it matches; a pair matching several GT
   interactions contributes one row per distinct matched sub-sentence (C rows). Nothing follows
   the last Linear, so the head cannot scale its output away; E_cls is the teacher's frozen,
   standardised state (:mod:`rmlr.modeling.cross_modal_learning.text_teacher`), so a constant
   output cannot fit the different sentences of different pairs.

Word level, ``word_formulation="anchored"`` (default)
----------------------------------------------------

``word_head`` = FFN_W (Linear H -> H, ReLU, Linear H -> L) maps the associated pair's feature into
the teacher's space, ``y = FFN_W(x)``, with no LayerNorm or other learnable affine map after its
last layer. The pair then attends, with ``y`` as the query, over the frozen (standardised) teacher
states E of the words it may attend to, its subject word (``"person"``) left out, with the
teacher states themselves as keys and values (no learnable projection on the text side)::

    target = stop_gradient( softmax(y E^T / sqrt(L)) E )      loss = D_L1(y, target)

Knowledge flows from the text to the vision only: the text side is frozen and the target carries
no gradient, so the only way to lower the loss is to move ``y``, hence the visual features, toward
a reconstruction made of the pair's own words. The fixed points are ``y`` on (a mixture of) those
word states: with standardised states (norm ~ sqrt(L)) the attention of ``y = e_k`` is peaked on
``e_k``, and ``target ~ y``. Which words those are differs from pair to pair (verb and object),
so the minimum needs a visual feature that tells the pairs apart: it cannot be reached from noise
(``tests/test_cross_modal_probe.py``; measured with 3 seeds, the held-out word loss with real
features is 0.64 x the loss with noise, 0.52 x the loss with the texts shuffled across images).
The subject word is left out because it is in every sentence: ``y = e_person`` would be a fixed
point for every pair, reachable without any image.

The failure mode this prevents is the one of the literal form (below): a loss between two outputs
of free learnable maps, minimised by making both the same constant. Here each choice closes one
way to that constant: the target is not a learnable map (frozen states as keys and values, no
projection), so it cannot be moved toward ``y``; the stop-gradient keeps the loss from pulling
the attention instead of the visual side; nothing learnable follows FFN_W's last layer, so no
gain can shrink ``y`` to a point (a constant ``y`` still meets different words in different
pairs and keeps a loss of about the words' spread, the "noise" loss of the probe).

Word level, ``word_formulation="paper"`` (the literal Eq. 13-17, kept for comparison)
-----------------------------------------------------------------------------------

``word_attention``: one multi-head cross-attention (Eq. 10, no residual and no normalisation,
exactly ``ATTN(q, E^w, E^w)`` with learnable query / key / value / output projections) with the
associated pair ``x`` (the LayerNorm-ed output of the self-attention layers) as the query and all
the pair's word states (subject included) as keys and values; ``loss = D_L1(x, x_hat)``, both sides
learnable and both carrying gradient. **This formulation is degenerate**: both ``x`` and ``x_hat``
are outputs of free learnable maps, and the loss is zero whenever both are the same constant. The
branch reaches such text-independent minima: trained alone with i.i.d. noise in place of O^v it
reaches the same loss as with the real O^v (issue 12: 0.0407 vs 0.0403 after 1,200 steps); the
last LayerNorm's gain goes to 0 (``x`` becomes the constant LayerNorm bias, and no gradient
reaches the visual features any more) and the output projection of the attention becomes a
constant (its bias). The loss then says nothing about alignment, and shuffling the texts across
images does not change it (``benchmarks/RESULTS.md``, "Cross-modal alignment probe").

``D_L1`` (Eq. 15) is the mean absolute difference over rows and channels. A term with no row
(no GT pair, no associated pair) is a zero connected to every parameter of its branch. The
alignment targets are computed in float32 (also under autocast).
"""

import math
from typing import Dict, Optional

import torch
from torch import nn

from ..attention_layers import (
    MultiHeadAttention,
    TransformerEncoderLayer,
    pack_sequences,
    unpack_sequences,
)
from ..losses import connected_zero, l1_distance
from .text_teacher import TeacherOutput

__all__ = ["AlignmentBranch", "CrossModalLearning", "WORD_KEYS", "WORD_FORMULATIONS"]

#: Choices for which word tokens an associated pair attends to.
WORD_KEYS = ("matched", "image")
#: Choices of the word-level loss (module docstring).
WORD_FORMULATIONS = ("anchored", "paper")


def _two_layer_head(hidden_dim: int, output_dim: int) -> nn.Sequential:
    """FFN_T / FFN_W: Linear(H, H) -> ReLU -> Linear(H, output_dim), nothing after."""
    return nn.Sequential(
        nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim)
    )


class AlignmentBranch(nn.Module):
    """Self-attention layers, sentence head FFN_T and the word-level head of one side."""

    def __init__(
        self,
        *,
        input_dim: int,
        text_dim: int,
        hidden_dim: int = 1024,
        num_layers: int = 2,
        num_heads: int = 8,
        ffn_dim: int = 2048,
        dropout: float = 0.1,
        sentence_alignment: bool = True,
        word_alignment: bool = True,
        word_formulation: str = "anchored",
    ):
        """
        Args:
            input_dim: width of the visual features of this side (m^v: 512, O^v: 512).
            text_dim: L, the teacher's hidden size.
            hidden_dim: H (paper: 1024).
            num_layers: self-attention layers (paper: 2; Table 8: 1 or 2).
            num_heads: heads of the self-attention (and of the ``"paper"`` cross-attention).
            ffn_dim: FFN width of the self-attention layers.
            dropout: dropout of the self-attention layers.
            sentence_alignment: build FFN_T and the sentence-level term ("SA" of Table 2).
            word_alignment: build the word-level head and term ("WA").
            word_formulation: ``"anchored"`` (``word_head`` = FFN_W) or ``"paper"``
                (``word_attention``, degenerate); see the module docstring.
        """
        super().__init__()
        if not (sentence_alignment or word_alignment):
            raise ValueError("AlignmentBranch needs sentence and/or word alignment (else use None)")
        if word_formulation not in WORD_FORMULATIONS:
            raise ValueError(
                f"word_formulation must be one of {WORD_FORMULATIONS}, got {word_formulation!r}"
            )
        self.word_formulation = word_formulation
        self.text_dim = text_dim
        self.input_proj = (
            nn.Linear(input_dim, hidden_dim) if input_dim != hidden_dim else nn.Identity()
        )
        self.self_attention = nn.ModuleList(
            [
                TransformerEncoderLayer(
                    embed_dim=hidden_dim,
                    num_heads=num_heads,
                    ffn_dim=ffn_dim,
                    dropout=dropout,
                    activation="gelu",
                )
                for _ in range(num_layers)
            ]
        )
        self.sentence_head = _two_layer_head(hidden_dim, text_dim) if sentence_alignment else None
        anchored = word_formulation == "anchored"
        self.word_head = (
            _two_layer_head(hidden_dim, text_dim) if word_alignment and anchored else None
        )
        self.word_attention = (
            MultiHeadAttention(embed_dim=hidden_dim, num_heads=num_heads, key_dim=text_dim)
            if word_alignment and not anchored
            else None
        )

    @property
    def word_alignment(self) -> bool:
        return self.word_head is not None or self.word_attention is not None

    def contextualise(
        self, features: torch.Tensor, image_index: torch.Tensor, num_images: int
    ) -> torch.Tensor:
        """Eq. 11/12: (P, input_dim) -> (P, H), self-attention among the pairs of each image."""
        packed, padding = pack_sequences(self.input_proj(features), image_index, num_images)
        for layer in self.self_attention:
            packed = layer(packed, key_padding_mask=padding)
        return unpack_sequences(packed, padding)

    def sentence_head_output(
        self, features: torch.Tensor, image_index: torch.Tensor, num_images: int
    ) -> torch.Tensor:
        """FFN_T(contextualise(features)): (P, input_dim) -> (P, L), every pair's prediction of its
        sentence's E_cls (read by the language classifier at inference)."""
        if self.sentence_head is None:
            raise ValueError(
                "this alignment branch has no sentence head (sentence_alignment=False)"
            )
        return self.sentence_head(self.contextualise(features, image_index, num_images))


def anchored_word_target(
    query: torch.Tensor, words: torch.Tensor, masked: torch.Tensor
) -> torch.Tensor:
    """``softmax(q E^T / sqrt(L)) E`` without gradient, in float32.

    Args:
        query: (N, A', L) the pairs' ``y`` packed per image.
        words: (N, T, L) the images' word states E.
        masked: (N, A', T) bool, True where a pair must not attend to a word.

    Returns:
        (N, A', L) the text-attended reconstruction (rows with every word masked: the mean of the
        words; callers drop them).
    """
    with torch.no_grad():
        q, e = query.detach().float(), words.float()
        logits = torch.bmm(q, e.transpose(1, 2)) / math.sqrt(e.shape[-1])
        logits = logits.masked_fill(masked, torch.finfo(logits.dtype).min)
        return torch.bmm(logits.softmax(dim=-1), e)


class CrossModalLearning(nn.Module):
    """Both alignment branches and their four loss terms (see the module docstring)."""

    def __init__(
        self,
        *,
        ire_branch: Optional[AlignmentBranch],
        irm_branch: Optional[AlignmentBranch],
        word_keys: str = "matched",
    ):
        """
        Args:
            ire_branch: alignment of M^v (IRE side, terms ``*_ire``), or None (w/o IRE-KT).
            irm_branch: alignment of O^v (IRM side, terms ``*_irm``), or None (w/o IRM-KT).
            word_keys: ``"matched"`` or ``"image"`` (see the module docstring).
        """
        super().__init__()
        if ire_branch is None and irm_branch is None:
            raise ValueError("CrossModalLearning needs at least one branch (else use None)")
        if word_keys not in WORD_KEYS:
            raise ValueError(f"word_keys must be one of {WORD_KEYS}, got {word_keys!r}")
        self.ire_branch = ire_branch
        self.irm_branch = irm_branch
        self.word_keys = word_keys

    def forward(
        self,
        *,
        ire_features: Optional[torch.Tensor],
        irm_features: torch.Tensor,
        image_index: torch.Tensor,
        num_images: int,
        pair_sentence: torch.Tensor,
        teacher: TeacherOutput,
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            ire_features: (P, Om) M^v, required when the IRE branch exists.
            irm_features: (P, H_irm) O^v.
            image_index: (P,) int64 image of each pair.
            num_images: N.
            pair_sentence: (C, 2) int64 distinct (pair index, batch-level sub-sentence index)
                couples of matched pairs.
            teacher: the text teacher's output for the batch.

        Returns:
            Unweighted ``loss_sentence_{ire,irm}`` / ``loss_word_{ire,irm}`` of the built parts.
        """
        losses = {}
        branches = (("ire", self.ire_branch, ire_features), ("irm", self.irm_branch, irm_features))
        for side, branch, features in branches:
            if branch is None:
                continue
            if features is None:
                raise ValueError(f"cross-modal learning: the {side} branch needs its features")
            losses.update(
                self._branch_losses(
                    side, branch, features, image_index, num_images, pair_sentence, teacher
                )
            )
        return losses

    def _branch_losses(
        self,
        side: str,
        branch: AlignmentBranch,
        features: torch.Tensor,
        image_index: torch.Tensor,
        num_images: int,
        pair_sentence: torch.Tensor,
        teacher: TeacherOutput,
    ) -> Dict[str, torch.Tensor]:
        zero = connected_zero(branch.parameters())
        x = branch.contextualise(features, image_index, num_images)
        associated, row_of_couple = torch.unique(pair_sentence[:, 0], return_inverse=True)
        x_assoc = x[associated]  # M^va or O^va, (A, H)
        losses = {}

        if branch.sentence_head is not None:
            if pair_sentence.shape[0] == 0:
                losses[f"loss_sentence_{side}"] = zero
            else:
                predicted = branch.sentence_head(x_assoc[row_of_couple])
                target = teacher.sentence_embeddings[pair_sentence[:, 1]]
                losses[f"loss_sentence_{side}"] = l1_distance(predicted, target) + zero

        if branch.word_alignment:
            losses[f"loss_word_{side}"] = self._word_loss(
                branch,
                x_assoc,
                image_index[associated],
                row_of_couple,
                pair_sentence,
                teacher,
                num_images,
                zero,
            )
        return losses

    def word_keys_of_pairs(
        self,
        assoc_image: torch.Tensor,
        row_of_couple: torch.Tensor,
        pair_sentence: torch.Tensor,
        teacher: TeacherOutput,
        exclude_subject: bool,
    ) -> torch.Tensor:
        """(A, T) bool: the word tokens of its image each associated pair may attend to."""
        words_sentence = teacher.word_sentence[assoc_image]  # (A, T)
        keep = words_sentence >= 0
        if self.word_keys == "matched":
            num_sentences = teacher.sentence_embeddings.shape[0]
            has = torch.zeros(
                assoc_image.shape[0], num_sentences + 1, dtype=torch.bool, device=keep.device
            )
            has[row_of_couple, pair_sentence[:, 1]] = True
            # Padding tokens (-1) index the extra last column, which stays False.
            keep = keep & has.gather(1, torch.where(keep, words_sentence, num_sentences))
        if exclude_subject and teacher.word_is_subject is not None:
            keep = keep & ~teacher.word_is_subject[assoc_image]
        return keep

    def _word_loss(
        self,
        branch: AlignmentBranch,
        x_assoc: torch.Tensor,
        assoc_image: torch.Tensor,
        row_of_couple: torch.Tensor,
        pair_sentence: torch.Tensor,
        teacher: TeacherOutput,
        num_images: int,
        zero: torch.Tensor,
    ) -> torch.Tensor:
        """Eq. 13/14 and 16/17 for the A associated pairs of one branch."""
        if x_assoc.shape[0] == 0 or teacher.word_embeddings.shape[1] == 0:
            return zero
        anchored = branch.word_formulation == "anchored"
        keep = self.word_keys_of_pairs(
            assoc_image, row_of_couple, pair_sentence, teacher, exclude_subject=anchored
        )
        has_keys = keep.any(dim=1)
        if not bool(has_keys.any()):
            return zero
        rows, images = x_assoc[has_keys], assoc_image[has_keys]
        keep_packed, padding = pack_sequences(keep[has_keys], images, num_images)
        if anchored:
            y = branch.word_head(rows)  # (A', L)
            y_packed, _ = pack_sequences(y, images, num_images)
            target = anchored_word_target(y_packed, teacher.word_embeddings, ~keep_packed)
            return l1_distance(y, unpack_sequences(target, padding)) + zero
        queries, _ = pack_sequences(rows, images, num_images)
        attended = branch.word_attention(
            queries,
            teacher.word_embeddings,
            teacher.word_embeddings,
            attn_mask=~keep_packed,
        )
        return l1_distance(rows, unpack_sequences(attended, padding)) + zero
