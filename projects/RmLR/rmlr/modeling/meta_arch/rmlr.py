"""RmLR, the meta-architecture: frozen DETR -> pairs -> IRE -> IRM, with cross-modal learning from a
frozen text teacher in training.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections` and :mod:`rmlr.modeling.pairs`):
    H: IRM width       X: supervised (pair, valid verb) entries       C: (pair, sub-sentence) couples

Forward (paper Sec. 3, Algorithm 1):

1. The frozen entity stage gives, per image, entities (boxes, scores, labels, decoder states S^v)
   and the C5 map X^v (:class:`~rmlr.modeling.entity_detection.entity_detections.EntityDetections`).
2. Pairs: every detected human with every other entity (:mod:`rmlr.modeling.pairs`).
3. IRE (:mod:`rmlr.modeling.interactive_relation_encoder`): m^v per pair, g^v per image. With a
   pose stage (Appendix G, Table 9), the frozen keypoint model
   (:mod:`rmlr.modeling.pose_estimation`) first runs on the pairs' distinct humans and the
   pose-guided encoder (``PoseGuidedRelationEncoder``) gives m^v from its output.
4. IRM (:mod:`rmlr.modeling.interaction_reasoning`): H^v = FC(cat(g^v, s~, m^v)), competitive
   layer -> O^v, verb logits; score ``sigmoid(logit) * (s_h * s_o)^lambda`` on the verbs valid for
   the detected object (lambda 1 in training, 2.8 at inference).
5. Training: the text teacher (:mod:`rmlr.modeling.cross_modal_learning.text_teacher`) and cross-modal learning
   (:mod:`rmlr.modeling.cross_modal_learning.alignment`) add the four alignment terms to UPT's focal loss
   (:mod:`rmlr.modeling.losses`). Loss dict: ``loss_hoi`` (weight 2.0), ``loss_sentence_irm``
   (1.0), ``loss_word_irm`` (1.0), ``loss_sentence_ire`` (0.1), ``loss_word_ire`` (0.1): Table 7's
   best row (lambda_hoi, l_s^m, l_w^m, l_s^a, l_w^a); superscript m = IRM side, a = IRE side.

Choices where the paper is silent (UPT = https://github.com/fredzzhang/upt):

* Pairs, GT association (min IoU >= 0.5, multi-label, object class not compared), spatial
  encodings, cooperative layers (2), the competitive layer (post-norm, 8 heads, FFN 2 x width,
  GELU), verb classifier masked to the object's valid verbs, the product score and its focal
  loss (alpha 0.5, gamma 0.2, normalised by positives averaged over ranks): UPT.
* IRM width = the teacher's width: Eq. 9 puts H^v in R^{D^l} (512 for MobileBERT; the Table 3
  configs set 768 / 1024 / 384 with their teachers); UPT's competitive layer is 1024 wide (a
  config value). The cross-modal layers are 1024 wide (Sec. 4.2); O^v is projected to 1024 there.
* The focal-loss normaliser is clamped to >= 1 (UPT divides by zero without positives).
* Pair token s~: UPT's multi-branch fusion of the two cooperatively refined tokens with the pair's
  spatial encoding, 1024-d (Appendix B's "1024-dimensional vector").
* IRE width: C5 -> 128 channels (1x1 conv), 2 layers, 4 heads, FFN 512, DETR sine positions;
  masked ROIAlign: 7x7 bins x 2x2 samples, sample points outside both boxes zeroed, GAP over the
  whole union box (zeros included), on each image's valid cells with ROIAlign's border rules
  (computed as one weight map per pair and a matrix product per image). Chosen for
  the cost budget (IRE + IRM add about 0.85 GMACs, 1.5%, to DETR-R50 at 800x800 with 30
  pairs); the paper gives no width.
* g^v averages the valid (unpadded) C5 cells (UPT averages the padded map).
* Extension (not in the paper): ``ire_in_feature="res4"`` / ``"res3"`` feeds the IRE a finer
  backbone map of the frozen DETR (stride 16 / 8 instead of C5's 32; the tiny DC5 DETR's C5 and
  C4 are both stride 16, so its finer map is res3), for interaction cues too thin for C5.
* Without IRE (Table 2: w/o Rm) H^v = FC(s~). Table 2's plain model is UPT's interaction head
  (``configs/rmlr/rmlr_r50_vcoco_plain.py``): s~ = cat(mbf(entity tokens, p), mbf_g(pooled C5,
  p)), fed to a 1024-wide competitive layer without the fusion FC.
* Cross-modal learning: M^v = the IRE's m^v; self-attention among the pairs of one image; a
  pair attends to the words of the sub-sentences of the GT interactions it matches
  (``word_keys="matched"``); a pair matching several GT interactions gives one sentence-level row
  per matched sub-sentence and one word-level row whose keys are all their words; D_L1 is the mean
  over rows and channels; FFN_T = Linear-ReLU-Linear. Eq. 18 / 19 (L_s^m, L_s^a) as written.
  The symbols follow the equations: m = IRM side (O^va, Eq. 16 and 18), a = IRE side (M^va,
  Eq. 17 and 19); the prose after Eq. 17 swaps them.
* Word level (Eq. 13-17): the literal form (``word_formulation="paper"``: a learnable
  cross-attention, loss between its input and output) is degenerate: it reaches text-independent
  minima that need no image (a constant in place of both sides). The default
  ``word_formulation="anchored"`` maps the pair into the teacher's space, ``y = FFN_W(x)``, and
  pulls it toward the stop-gradient reconstruction ``softmax(y E^T / sqrt(L)) E`` of its own
  frozen word states (subject word left out): knowledge flows from the text to the vision only,
  and the minimum needs the image (reasoning and measurements in
  :mod:`rmlr.modeling.cross_modal_learning.alignment`).
* Teacher targets are standardised per channel (``TextTeacher(target_norm="standardize")``,
  statistics over the dataset's HOI class sentences): MobileBERT has no final LayerNorm and its
  raw states would make the L1 terms hundreds of times larger than ``loss_hoi``.
* The text teacher's E^w come from one sequence per image (sub-sentences joined by the
  tokenizer's separator); E_cls from each sub-sentence alone; cached by string. It loads on its
  first training call: inference builds no text model and never imports ``transformers``, and
  the cross-modal modules are skipped in eval mode.
* Terms with nothing to supervise are zeros connected to their parameters (DDP-safe).
* The entity stage stays frozen and runs without gradient; its train/eval mode is its own
  (``FrozenEntityDetector(keep_dropout=...)``). So does the pose stage (always eval mode).

Zero-shot options (issue 14; off by default):

* ``train_valid_verbs_per_object``: the verb mask of the training loss (a zero-shot training set's
  seen classes, ``seen_valid_verbs_from_metadata``); ``valid_verbs_per_object`` stays the test-time
  mask with every class, so unseen (object, verb) classes are scored at inference.
* ``language_classifier``
  (:class:`~rmlr.modeling.cross_modal_learning.language_classifier.LanguageClassifier`): scores
  every pair against every class sentence through the IRM-side sentence head and blends that text
  probability with the visual one; the pair's score is ``blend * (s_h * s_o)^lambda``.
"""

from typing import Dict, List, Mapping, Optional, Sequence

import torch
from detectron2.data import MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import get_event_storage
from torch import nn

from ..cross_modal_learning.alignment import CrossModalLearning
from ..cross_modal_learning.language_classifier import LanguageClassifier
from ..cross_modal_learning.text_teacher import TextTeacher
from ..entity_detection.entity_detections import EntityDetections
from ..interaction_reasoning import InteractionReasoningModule, average_valid_cells
from ..interactive_relation_encoder import InteractiveRelationEncoder
from ..losses import connected_zero, product_score_focal_loss
from ..pairs import HOIPairs, associate_pairs, build_pairs

__all__ = ["RmLR", "LOSS_NAMES", "DEFAULT_LOSS_WEIGHTS", "valid_verbs_from_metadata"]

#: Every loss term RmLR can produce.
LOSS_NAMES = (
    "loss_hoi",
    "loss_sentence_irm",
    "loss_word_irm",
    "loss_sentence_ire",
    "loss_word_ire",
)
#: Table 7's best row: (lambda_hoi, l_s^m, l_w^m, l_s^a, l_w^a) = (2.0, 1.0, 1.0, 0.1, 0.1).
DEFAULT_LOSS_WEIGHTS = dict(zip(LOSS_NAMES, (2.0, 1.0, 1.0, 0.1, 0.1)))


def valid_verbs_from_metadata(dataset_name: str) -> List[List[int]]:
    """``MetadataCatalog.get(dataset_name).valid_verbs_per_object`` (K lists of verb ids), for
    configs: ``valid_verbs_per_object=L(valid_verbs_from_metadata)(dataset_name=...)``."""
    meta = MetadataCatalog.get(dataset_name)
    if not hasattr(meta, "valid_verbs_per_object"):
        raise KeyError(f"dataset {dataset_name!r} has no metadata 'valid_verbs_per_object'")
    return [list(v) for v in meta.valid_verbs_per_object]


@META_ARCH_REGISTRY.register()
class RmLR(nn.Module):
    """Re-mine, Learn and Reason (see the module docstring for every design choice)."""

    def __init__(
        self,
        *,
        # Entity stage (frozen)
        entity_detector: nn.Module,
        # Visual HOI modules
        ire: Optional[nn.Module],
        irm: InteractionReasoningModule,
        # Pose stage (frozen; Appendix G): only with a pose-guided IRE
        pose_estimator: Optional[nn.Module] = None,
        # Cross-modal learning (training only; both None for Table 2's plain / w/o CL models)
        text_teacher: Optional[TextTeacher] = None,
        cross_modal: Optional[CrossModalLearning] = None,
        # Dataset
        num_verbs: int,
        valid_verbs_per_object: Sequence[Sequence[int]],
        person_category_id: int = 0,
        # Loss parameters
        fg_iou_threshold: float = 0.5,
        focal_alpha: float = 0.5,
        focal_gamma: float = 0.2,
        loss_weights: Optional[Mapping[str, float]] = None,
        # Scoring parameters: (s_h * s_o) ** power
        score_power_train: float = 1.0,
        score_power_test: float = 2.8,
        # IRE input (an extension of the paper, which uses C5)
        ire_in_feature: str = "res5",
        # Zero-shot options
        train_valid_verbs_per_object: Optional[Sequence[Sequence[int]]] = None,
        language_classifier: Optional[LanguageClassifier] = None,
    ):
        """
        Args:
            entity_detector: ``FrozenEntityDetector``: ``preprocess_image(batched_inputs)`` ->
                ``ImageList`` and ``forward(images)`` -> ``EntityDetections``.
            ire: the Interactive Relation Encoder (``InteractiveRelationEncoder`` or the
                pose-guided ``PoseGuidedRelationEncoder``), or None (plain model, w/o Rm).
            irm: the Interaction Reasoning Module (its ``global_dim`` / ``cue_dim`` must equal
                the IRE's output width, or 0 without IRE).
            pose_estimator: ``FrozenPoseEstimator``, required exactly when the IRE is pose-guided
                (``ire.needs_pose``): ``forward(batched_inputs, boxes, image_index)`` ->
                ``PoseEstimates`` of the given human boxes.
            text_teacher: frozen text encoder; required exactly when ``cross_modal`` is given.
            cross_modal: the alignment branches, or None (no cross-modal learning).
            num_verbs: V.
            valid_verbs_per_object: K lists of the verb ids valid for each object class.
            person_category_id: the human class id.
            fg_iou_threshold: min IoU of both boxes for a pair to match a GT interaction.
            focal_alpha, focal_gamma: focal-loss parameters (UPT: 0.5, 0.2).
            loss_weights: weight of each term of ``LOSS_NAMES`` (default
                ``DEFAULT_LOSS_WEIGHTS``); weights of terms the model does not build are unused.
            score_power_train, score_power_test: lambda of the detection-score prior.
            ire_in_feature: the backbone map the IRE reads: "res5" (C5, the paper) or a finer
                one ("res4", "res3"; an extension: the frozen DETR backbone must output it, and
                the IRE's ``in_channels`` / ``feature_stride`` must match it).
            train_valid_verbs_per_object: the training loss's mask (default
                ``valid_verbs_per_object``); a zero-shot set's seen classes.
            language_classifier: text-side scores blended with the visual ones at inference;
                needs ``cross_modal.irm_branch`` with its sentence head (the teacher's width).
        """
        super().__init__()
        if (text_teacher is None) != (cross_modal is None):
            raise ValueError("text_teacher and cross_modal must be given together (or neither)")
        if cross_modal is not None and cross_modal.ire_branch is not None and ire is None:
            raise ValueError("cross_modal.ire_branch aligns the IRE's features: it needs an IRE")
        context = 0 if ire is None else ire.output_dim
        if irm.global_dim != context or irm.cue_dim != context:
            raise ValueError(
                f"irm.global_dim={irm.global_dim} and irm.cue_dim={irm.cue_dim} must equal the "
                f"IRE output width ({context}; 0 without IRE)"
            )
        needs_pose = bool(getattr(ire, "needs_pose", False))
        if needs_pose != (pose_estimator is not None):
            raise ValueError(
                "a pose-guided IRE needs pose_estimator, and pose_estimator needs a pose-guided "
                f"IRE (ire: {type(ire).__name__}, pose_estimator: "
                f"{type(pose_estimator).__name__})"
            )
        if irm.num_verbs != num_verbs:
            raise ValueError(f"irm.num_verbs={irm.num_verbs} but num_verbs={num_verbs}")
        if language_classifier is not None:
            branch = None if cross_modal is None else cross_modal.irm_branch
            if branch is None or branch.sentence_head is None:
                raise ValueError(
                    "language_classifier reads the IRM-side sentence head: it needs cross_modal "
                    "with an irm_branch that has sentence_alignment=True"
                )
            width = language_classifier.class_embeddings.shape[1]
            if width != text_teacher.embed_dim:
                raise ValueError(
                    f"language_classifier.embed_dim={width} but the teacher's is "
                    f"{text_teacher.embed_dim}"
                )
        weights = dict(DEFAULT_LOSS_WEIGHTS if loss_weights is None else loss_weights)
        unknown = set(weights) - set(LOSS_NAMES)
        if unknown or set(LOSS_NAMES) - set(weights):
            raise ValueError(f"loss_weights must have exactly the keys {LOSS_NAMES}")

        self.entity_detector = entity_detector
        self.ire = ire
        self.irm = irm
        self.pose_estimator = pose_estimator
        self.text_teacher = text_teacher
        self.cross_modal = cross_modal

        self.num_verbs = num_verbs
        self.person_category_id = person_category_id
        self.language_classifier = language_classifier
        mask = self._verb_mask(valid_verbs_per_object, num_verbs)
        self.register_buffer("verb_mask", mask, persistent=False)
        train_mask = mask
        if train_valid_verbs_per_object is not None:
            train_mask = self._verb_mask(train_valid_verbs_per_object, num_verbs)
            pairs = {(o, int(v)) for o, verbs in enumerate(valid_verbs_per_object) for v in verbs}
            train_pairs = {
                (o, int(v)) for o, verbs in enumerate(train_valid_verbs_per_object) for v in verbs
            }
            if train_mask.shape != mask.shape or not train_pairs <= pairs:
                raise ValueError(
                    "train_valid_verbs_per_object must be a subset of valid_verbs_per_object "
                    "(same objects)"
                )
        self.register_buffer("train_verb_mask", train_mask, persistent=False)
        # (V,) verbs that some training class uses (the others' logits are never trained)
        self.register_buffer("trained_verbs", train_mask.any(dim=0), persistent=False)

        self.fg_iou_threshold = fg_iou_threshold
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.loss_weights = weights
        self.score_power_train = score_power_train
        self.score_power_test = score_power_test
        if ire_in_feature not in ("res2", "res3", "res4", "res5"):
            raise ValueError(f"ire_in_feature must be res2..res5, got {ire_in_feature!r}")
        self.ire_in_feature = ire_in_feature

    @staticmethod
    def _verb_mask(valid_verbs_per_object, num_verbs: int) -> torch.Tensor:
        mask = torch.zeros(len(valid_verbs_per_object), num_verbs, dtype=torch.bool)
        for obj, verbs in enumerate(valid_verbs_per_object):
            verbs = [int(v) for v in verbs]
            if any(v < 0 or v >= num_verbs for v in verbs):
                raise ValueError(f"valid verbs of object {obj} out of range [0, {num_verbs})")
            mask[obj, verbs] = True
        return mask

    @property
    def device(self) -> torch.device:
        return self.verb_mask.device

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: N mapper outputs (``projects/RmLR/README.md``); training also reads
                ``instances``, ``interactions`` and (with cross-modal learning) ``hoi_text``.

        Returns:
            Training: dict of weighted ``loss_*`` scalars. Inference: N dicts
            ``{"hoi_instances": Instances}`` (see :meth:`inference`).
        """
        if self.training and self.language_classifier is not None:
            if not self.language_classifier.is_ready:  # once per class list (then in checkpoints)
                self.language_classifier.compute_class_embeddings(self.text_teacher)
        images = self.entity_detector.preprocess_image(batched_inputs)
        with torch.no_grad():
            detections = self.entity_detector(images)
        pairs, features, logits, cues = self.reason(detections, images.image_sizes, batched_inputs)
        power = self.score_power_train if self.training else self.score_power_test
        prior = (pairs.scores_h * pairs.scores_o) ** power
        if self.training:
            valid = self.train_verb_mask[pairs.object_labels]  # (P, V)
            return self.losses(batched_inputs, pairs, logits, prior, valid, features, cues)
        valid = self.verb_mask[pairs.object_labels]
        return self.inference(
            batched_inputs,
            images.image_sizes,
            pairs,
            self.probabilities(pairs, logits, features),
            prior,
            valid,
        )

    def probabilities(
        self, pairs: HOIPairs, logits: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """(P, V) verb probabilities: ``sigmoid(logits)``, blended with the language classifier's
        text probabilities when there is one. features (P, H) = O^v."""
        visual = torch.sigmoid(logits)
        if self.language_classifier is None:
            return visual
        sentence = self.cross_modal.irm_branch.sentence_head_output(
            features, pairs.image_index, pairs.num_images
        )
        text = self.language_classifier(sentence, pairs.object_labels)
        return self.language_classifier.blend(visual, text, self.trained_verbs)

    def ire_input(self, detections: EntityDetections):
        """The IRE's input map and padding mask: C5 (``ire_in_feature="res5"``) or the finer
        backbone map named by ``ire_in_feature`` (the frozen DETR backbone must output it)."""
        if self.ire_in_feature == "res5":
            return detections.features, detections.feature_mask
        if self.ire_in_feature not in detections.extra_features:
            raise KeyError(
                f"model.ire_in_feature={self.ire_in_feature!r}, but the entity detector outputs "
                f"{['res5', *detections.extra_features]}: add it to the DETR backbone's "
                "out_features (model.entity_detector.detector.detr.backbone.out_features)"
            )
        return detections.extra_features[self.ire_in_feature]

    def reason(
        self,
        detections: EntityDetections,
        image_sizes: Sequence[Sequence[int]],
        batched_inputs: List[Dict],
    ):
        """Steps 2-4 of the module docstring on given entities (the detector's, or GT boxes for
        the oracle-pair diagnostics of :mod:`rmlr.evaluation.oracle_pairs`); ``batched_inputs``
        feed the pose stage of a pose-guided IRE.

        Returns:
            pairs (P pairs), features (P, H) O^v, logits (P, V) unmasked verb logits,
            cues (P, Om) m^v or None without IRE.
        """
        pairs = build_pairs(detections, person_label=self.person_category_id)
        image_hw = torch.as_tensor(
            [[int(h), int(w)] for h, w in image_sizes], device=pairs.entity_boxes.device
        )
        cues = global_context = None
        if self.ire is not None:
            ire_map, ire_mask = self.ire_input(detections)
            cues, global_context = self.ire(
                ire_map,
                ire_mask,
                pairs.boxes_h,
                pairs.boxes_o,
                pairs.image_index,
                **self._pose_inputs(batched_inputs, pairs),
            )
        image_features = None
        if self.irm.image_feature_dim > 0:  # UPT's global branch (the UPT plain model)
            image_features = average_valid_cells(detections.features, detections.feature_mask)
        features, logits = self.irm(pairs, image_hw, global_context, cues, image_features)
        return pairs, features, logits, cues

    def _pose_inputs(self, batched_inputs: List[Dict], pairs: HOIPairs) -> Dict:
        """``poses`` (the pose stage on the pairs' distinct humans; None without pairs) and
        ``pose_index`` (P,) for a pose-guided IRE; nothing otherwise."""
        if self.pose_estimator is None:
            return {}
        if len(pairs) == 0:  # no human, or nothing to pair it with: no pose needed
            return {"poses": None, "pose_index": None}
        humans, pose_index = torch.unique(pairs.human_index, return_inverse=True)
        poses = self.pose_estimator(
            batched_inputs, pairs.entity_boxes[humans], pairs.entity_image[humans]
        )
        return {"poses": poses, "pose_index": pose_index}

    def losses(
        self,
        batched_inputs: List[Dict],
        pairs: HOIPairs,
        logits: torch.Tensor,
        prior: torch.Tensor,
        valid: torch.Tensor,
        features: torch.Tensor,
        cues: Optional[torch.Tensor],
    ) -> Dict[str, torch.Tensor]:
        """Eq. 21-22. logits (P, V), prior (P,), valid (P, V), features (P, H), cues (P, Om)."""
        device = logits.device
        gt_h, gt_o, gt_verbs = [], [], []
        for x in batched_inputs:
            boxes = x["instances"].gt_boxes.tensor.to(device)
            inter = torch.as_tensor(x["interactions"], device=device, dtype=torch.int64).view(-1, 3)
            gt_h.append(boxes[inter[:, 0]])
            gt_o.append(boxes[inter[:, 1]])
            gt_verbs.append(inter[:, 2])
        matches = associate_pairs(
            pairs,
            gt_h,
            gt_o,
            gt_verbs,
            num_verbs=self.num_verbs,
            iou_threshold=self.fg_iou_threshold,
        )
        x, y = torch.nonzero(valid, as_tuple=True)
        loss_hoi = product_score_focal_loss(
            logits[x, y],
            prior[x],
            matches.labels[x, y],
            alpha=self.focal_alpha,
            gamma=self.focal_gamma,
        )
        if x.numel() == 0:  # nothing to classify in this batch: keep every parameter in the graph
            modules = [m for m in (self.ire, self.irm) if m is not None]
            loss_hoi = loss_hoi + connected_zero(p for m in modules for p in m.parameters())
        losses = {"loss_hoi": self.loss_weights["loss_hoi"] * loss_hoi}

        if self.cross_modal is not None:
            pair_sentence = self._pair_sentences(batched_inputs, matches, device)
            teacher = self.text_teacher([self._hoi_text(x) for x in batched_inputs])
            terms = self.cross_modal(
                ire_features=cues,
                irm_features=features,
                image_index=pairs.image_index,
                num_images=pairs.num_images,
                pair_sentence=pair_sentence,
                teacher=teacher,
            )
            losses.update({k: self.loss_weights[k] * v for k, v in terms.items()})

        self._put_metrics(
            pairs_per_image=len(pairs) / max(pairs.num_images, 1),
            positives=float(matches.labels[x, y].sum().item()),
            matched_pairs=float(torch.unique(matches.pair_index).numel()),
        )
        return losses

    @staticmethod
    def _hoi_text(x: Dict) -> Dict:
        if "hoi_text" not in x:
            raise KeyError(
                "cross-modal learning needs 'hoi_text' in every training input (HOIDatasetMapper)"
            )
        return x["hoi_text"]

    def _pair_sentences(self, batched_inputs, matches, device) -> torch.Tensor:
        """(C, 2) distinct (pair, batch-level sub-sentence) couples of the matched pairs."""
        to_sentence, offset = [], 0
        for x in batched_inputs:
            text = self._hoi_text(x)
            its = torch.as_tensor(text["interaction_to_sentence"], dtype=torch.int64).view(-1)
            to_sentence.append(its.to(device) + offset)
            offset += len(text["sentences"])
        gt_to_sentence = torch.cat(to_sentence)
        couples = torch.stack([matches.pair_index, gt_to_sentence[matches.gt_index]], dim=1)
        return torch.unique(couples, dim=0) if couples.shape[0] else couples

    @staticmethod
    def _put_metrics(**values: float) -> None:
        try:
            storage = get_event_storage()
        except AssertionError:  # called outside a trainer (tests, scripts)
            return
        for name, value in values.items():
            storage.put_scalar(f"rmlr/{name}", value)

    def inference(
        self,
        batched_inputs: List[Dict],
        image_sizes: Sequence[Sequence[int]],
        pairs: HOIPairs,
        probabilities: torch.Tensor,
        prior: torch.Tensor,
        valid: torch.Tensor,
    ) -> List[Dict[str, Instances]]:
        """One row per (pair, valid verb), boxes rescaled to the original image size; probabilities
        (P, V) from :meth:`probabilities`, prior (P,), valid (P, V).

        Returns:
            N dicts ``{"hoi_instances": Instances((height, width), pred_subject_boxes=Boxes,
            pred_object_boxes=Boxes, pred_object_classes=int64, pred_verb_classes=int64,
            scores=float)}``.
        """
        x, y = torch.nonzero(valid, as_tuple=True)
        scores = probabilities[x, y] * prior[x]
        image = pairs.image_index[x]
        results = []
        for i, (inp, (in_h, in_w)) in enumerate(zip(batched_inputs, image_sizes)):
            height, width = inp.get("height", in_h), inp.get("width", in_w)
            scale = torch.as_tensor(
                [width / in_w, height / in_h, width / in_w, height / in_h], device=scores.device
            )
            keep = image == i
            rows = x[keep]
            boxes_h = Boxes(pairs.boxes_h[rows] * scale)
            boxes_o = Boxes(pairs.boxes_o[rows] * scale)
            boxes_h.clip((height, width))
            boxes_o.clip((height, width))
            results.append(
                {
                    "hoi_instances": Instances(
                        (height, width),
                        pred_subject_boxes=boxes_h,
                        pred_object_boxes=boxes_o,
                        pred_object_classes=pairs.object_labels[rows],
                        pred_verb_classes=y[keep],
                        scores=scores[keep],
                    )
                }
            )
        return results
