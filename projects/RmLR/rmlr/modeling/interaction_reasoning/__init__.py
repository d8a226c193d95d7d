"""The Interaction Reasoning Module (IRM, paper Sec. 3.4-3.5, Eq. 9 and 20), after UPT's
interaction head: box-pair spatial encodings, cooperative layers, pair tokens, competitive layers
and the verb classifier."""

from .cooperative_layer import CooperativeLayer
from .reasoning_module import InteractionReasoningModule, MultiBranchFusion, average_valid_cells
from .spatial_encoding import NUM_SPATIAL_FEATURES, BoxPairSpatialEncoder, box_pair_spatial_features

__all__ = [
    "BoxPairSpatialEncoder",
    "CooperativeLayer",
    "InteractionReasoningModule",
    "MultiBranchFusion",
    "NUM_SPATIAL_FEATURES",
    "average_valid_cells",
    "box_pair_spatial_features",
]
