"""RmLR-R50 (Cao et al., ICCV 2023), HICO-DET verbs: frozen DETR-R50 + IRE + IRM + cross-modal
learning from a frozen MobileBERT. Every choice the paper leaves open is listed in the docstring
of ``rmlr.modeling.meta_arch.rmlr``.

Shared values are interpolated: ``num_verbs`` (model) feeds the IRM classifier, the IRE output
width feeds the IRM fusion and the IRE alignment branch, the teacher width feeds both alignment
branches. Ablations set modules to ``None`` (see ``configs/rmlr/rmlr_r50_vcoco_*.py``).

The entity detector must be a DETR fine-tuned on the target dataset (UPT's checkpoints, converted
with ``tools/convert_detr_weights.py``) at ``checkpoints/detr-r50-hicodet.pth`` (relative to the
working directory); training refuses to start when it is missing.
"""

from detectron2.config import LazyCall as L

from rmlr.modeling.cross_modal_learning.alignment import AlignmentBranch, CrossModalLearning
from rmlr.modeling.cross_modal_learning.text_teacher import (
    TextTeacher,
    class_sentences_from_metadata,
)
from rmlr.modeling.entity_detection.entity_detector import FrozenEntityDetector
from rmlr.modeling.entity_detection.position_encoding import PositionEmbeddingSine
from rmlr.modeling.entity_detection.proposal_filter import ProposalFilter
from rmlr.modeling.interaction_reasoning import InteractionReasoningModule
from rmlr.modeling.interaction_reasoning.spatial_encoding import BoxPairSpatialEncoder
from rmlr.modeling.interactive_relation_encoder import InteractiveRelationEncoder
from rmlr.modeling.meta_arch.rmlr import RmLR, valid_verbs_from_metadata

from .detr import model as detr

detr.criterion = None  # the entity stage is frozen: no DETR loss here

model = L(RmLR)(
    entity_detector=L(FrozenEntityDetector)(
        detector=detr,
        # UPT's proposal filter: NMS 0.5, score >= 0.2, 3..15 humans and 3..15 objects
        proposal_filter=L(ProposalFilter)(
            nms_thresh=0.5,
            score_thresh=0.2,
            min_per_type=3,
            max_per_type=15,
            human_label="${...person_category_id}",
        ),
        checkpoint="checkpoints/detr-r50-hicodet.pth",
        keep_dropout=False,
    ),
    ire=L(InteractiveRelationEncoder)(
        position_embedding=L(PositionEmbeddingSine)(num_pos_feats=64),  # embed_dim / 2
        in_channels=2048,  # ResNet C5
        embed_dim=128,
        num_layers=2,  # Appendix B
        num_heads=4,
        ffn_dim=512,
        dropout=0.1,
        output_dim=512,  # Appendix B: m^v and g^v are 512-d
        feature_stride=32,
        pool_size=7,
        sampling_ratio=2,
    ),
    irm=L(InteractionReasoningModule)(
        spatial_encoder=L(BoxPairSpatialEncoder)(hidden_dims=[128, 256], output_dim=512),
        num_verbs="${..num_verbs}",
        unary_dim=256,  # DETR d_model
        spatial_dim="${.spatial_encoder.output_dim}",
        num_cooperative_layers=2,
        cooperative_dim=512,
        cooperative_heads=8,
        pair_dim=1024,  # Appendix B
        global_dim="${..ire.output_dim}",
        cue_dim="${..ire.output_dim}",
        hidden_dim=512,  # Eq. 9: H^v has the text width D^l (512 for MobileBERT); UPT: 1024
        num_layers=1,  # Appendix B / Table 8
        num_heads=8,
        ffn_dim=1024,  # 2 x hidden_dim, as UPT's competitive layer
        dropout=0.1,
    ),
    text_teacher=L(TextTeacher)(
        model_name_or_path="google/mobilebert-uncased",  # name (internet) or a local folder
        embed_dim=512,  # MobileBERT hidden size
        # MobileBERT has no final LayerNorm (states reach the thousands): standardise the targets
        # per channel with statistics over the dataset's HOI class sentences
        target_norm="standardize",
        class_sentences=L(class_sentences_from_metadata)(
            dataset_name="${...valid_verbs_per_object.dataset_name}"
        ),
    ),
    cross_modal=L(CrossModalLearning)(
        ire_branch=L(AlignmentBranch)(
            input_dim="${...ire.output_dim}",
            text_dim="${...text_teacher.embed_dim}",
            hidden_dim=1024,  # Sec. 4.2
            num_layers=2,  # Sec. 4.2 / Table 8
            num_heads=8,
            ffn_dim=2048,
            dropout=0.1,
            sentence_alignment=True,
            word_alignment=True,
            word_formulation="anchored",  # "paper": the literal Eq. 13-17, degenerate
        ),
        irm_branch=L(AlignmentBranch)(
            input_dim="${...irm.hidden_dim}",
            text_dim="${...text_teacher.embed_dim}",
            hidden_dim=1024,
            num_layers=2,
            num_heads=8,
            ffn_dim=2048,
            dropout=0.1,
            sentence_alignment=True,
            word_alignment=True,
            word_formulation="anchored",  # "paper": the literal Eq. 13-17, degenerate
        ),
        word_keys="matched",
    ),
    num_verbs=117,  # HICO-DET
    valid_verbs_per_object=L(valid_verbs_from_metadata)(dataset_name="hico_det_train"),
    person_category_id=0,
    fg_iou_threshold=0.5,
    focal_alpha=0.5,
    focal_gamma=0.2,
    # Table 7's best row: lambda_hoi, l_s^m, l_w^m, l_s^a, l_w^a (m = IRM side, a = IRE side)
    loss_weights={
        "loss_hoi": 2.0,
        "loss_sentence_irm": 1.0,
        "loss_word_irm": 1.0,
        "loss_sentence_ire": 0.1,
        "loss_word_ire": 0.1,
    },
    score_power_train=1.0,
    score_power_test=2.8,
)
