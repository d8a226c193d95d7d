"""RmLR's models, grouped by stage as in the paper (importing registers the meta-architectures
``DETRDetector`` and ``RmLR``):

* :mod:`.entity_detection`: the DETR entity stage (stage 1 trains it; RmLR freezes it);
* :mod:`.pairs`: human-object pair construction and GT association;
* :mod:`.interactive_relation_encoder`: the IRE (re-mining, Sec. 3.2) and its pose-guided variant;
* :mod:`.pose_estimation`: the frozen keypoint stage of the pose-guided IRE (Appendix G);
* :mod:`.cross_modal_learning`: the text teacher and the sentence / word alignment (Sec. 3.3-3.4);
* :mod:`.interaction_reasoning`: the IRM (reasoning, Sec. 3.5);
* :mod:`.meta_arch`: RmLR itself, which wires the stages together;
* :mod:`.attention_layers`, :mod:`.losses`: building blocks shared by the stages.
"""

from .cross_modal_learning import (
    AlignmentBranch,
    CrossModalLearning,
    TextTeacher,
    installed_minilm_path,
)
from .entity_detection import (
    DETR,
    DETRDetector,
    DETRTransformer,
    EntityDetections,
    FrozenEntityDetector,
    HungarianMatcher,
    PositionEmbeddingSine,
    ProposalFilter,
    SetCriterion,
    WeightConversionError,
    build_detr_resnet,
    convert_checkpoint,
    get_detr_optimizer_params,
    load_detector_checkpoint,
)
from .interaction_reasoning import BoxPairSpatialEncoder, InteractionReasoningModule
from .interactive_relation_encoder import InteractiveRelationEncoder, PoseGuidedRelationEncoder
from .meta_arch import RmLR
from .pose_estimation import FrozenPoseEstimator

__all__ = [
    "AlignmentBranch",
    "BoxPairSpatialEncoder",
    "CrossModalLearning",
    "DETR",
    "DETRDetector",
    "DETRTransformer",
    "EntityDetections",
    "FrozenEntityDetector",
    "FrozenPoseEstimator",
    "HungarianMatcher",
    "InteractionReasoningModule",
    "InteractiveRelationEncoder",
    "PoseGuidedRelationEncoder",
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
