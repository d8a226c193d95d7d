"""RmLR's models: the DETR entity stage and the HOI stage (importing registers the
meta-architectures ``DETRDetector`` and ``RmLR``)."""

from .cross_modal import AlignmentBranch, CrossModalLearning
from .detr import DETR, DETRDetector, get_detr_optimizer_params
from .detr_backbone import build_detr_resnet
from .detr_criterion import HungarianMatcher, SetCriterion
from .detr_transformer import DETRTransformer
from .detr_weights import WeightConversionError, convert_checkpoint, load_detector_checkpoint
from .entity_detections import EntityDetections
from .entity_detector import FrozenEntityDetector
from .interaction_reasoning import InteractionReasoningModule
from .interactive_relation_encoder import InteractiveRelationEncoder
from .position_encoding import PositionEmbeddingSine
from .proposal_filter import ProposalFilter
from .rmlr import RmLR
from .spatial_encoding import BoxPairSpatialEncoder
from .text_teacher import TextTeacher, installed_minilm_path

__all__ = [
    "AlignmentBranch",
    "BoxPairSpatialEncoder",
    "CrossModalLearning",
    "DETR",
    "DETRDetector",
    "DETRTransformer",
    "EntityDetections",
    "FrozenEntityDetector",
    "HungarianMatcher",
    "InteractionReasoningModule",
    "InteractiveRelationEncoder",
    "PositionEmbeddingSine",
    "ProposalFilter",
    "RmLR",
    "SetCriterion",
    "TextTeacher",
    "WeightConversionError",
    "build_detr_resnet",
    "convert_checkpoint",
    "get_detr_optimizer_params",
    "installed_minilm_path",
    "load_detector_checkpoint",
]
