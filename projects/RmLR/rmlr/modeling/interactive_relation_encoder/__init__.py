"""The Interactive Relation Encoder (IRE, paper Sec. 3.2, Eq. 4-6): an encoder over the backbone
map and the masked union pooling of each human-object pair, and its pose-guided variant (Appendix G).
"""

from .encoder import InteractiveRelationEncoder
from .masked_pooling import masked_union_pool, union_boxes, union_pool_weights, valid_cells
from .pose_guided_encoder import POSE_MODES, PoseGuidedRelationEncoder
from .pose_maps import normalized_heatmaps, union_pose_maps

__all__ = [
    "InteractiveRelationEncoder",
    "POSE_MODES",
    "PoseGuidedRelationEncoder",
    "normalized_heatmaps",
    "masked_union_pool",
    "union_boxes",
    "union_pool_weights",
    "union_pose_maps",
    "valid_cells",
]
