"""The entity stage (paper Sec. 3.2, "Visual Entity Detection"): DETR with a ResNet backbone,
its stage-1 criterion and weight conversion, the proposal filter, and the frozen wrapper RmLR uses.
"""

from .detr import DETR, DETRDetector, get_detr_optimizer_params
from .detr_backbone import build_detr_resnet
from .detr_criterion import HungarianMatcher, SetCriterion
from .detr_transformer import DETRTransformer
from .detr_weights import WeightConversionError, convert_checkpoint, load_detector_checkpoint
from .entity_detections import EntityDetections
from .entity_detector import FrozenEntityDetector
from .position_encoding import PositionEmbeddingSine
from .proposal_filter import ProposalFilter

__all__ = [
    "DETR",
    "DETRDetector",
    "DETRTransformer",
    "EntityDetections",
    "FrozenEntityDetector",
    "HungarianMatcher",
    "PositionEmbeddingSine",
    "ProposalFilter",
    "SetCriterion",
    "WeightConversionError",
    "build_detr_resnet",
    "convert_checkpoint",
    "get_detr_optimizer_params",
    "load_detector_checkpoint",
]
