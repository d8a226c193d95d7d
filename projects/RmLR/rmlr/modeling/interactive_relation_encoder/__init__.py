"""The Interactive Relation Encoder (IRE, paper Sec. 3.2, Eq. 4-6): an encoder over the backbone
map and the masked union pooling of each human-object pair."""

from .encoder import InteractiveRelationEncoder
from .masked_pooling import masked_union_pool, union_boxes, union_pool_weights, valid_cells

__all__ = [
    "InteractiveRelationEncoder",
    "masked_union_pool",
    "union_boxes",
    "union_pool_weights",
    "valid_cells",
]
