"""Small HOI-stage modules shared by the model tests."""

from rmlr.modeling.interaction_reasoning import InteractionReasoningModule
from rmlr.modeling.interaction_reasoning.spatial_encoding import BoxPairSpatialEncoder


def tiny_irm(num_verbs=4, context=6, num_layers=1, unary_dim=8):
    """An IRM for ``unary_dim``-wide DETR tokens; ``context`` is the IRE width (0 without IRE)."""
    return InteractionReasoningModule(
        spatial_encoder=BoxPairSpatialEncoder(hidden_dims=(8,), output_dim=12),
        num_verbs=num_verbs,
        unary_dim=unary_dim,
        spatial_dim=12,
        cooperative_dim=8,
        cooperative_heads=2,
        pair_dim=16,
        global_dim=context,
        cue_dim=context,
        hidden_dim=16,
        num_layers=num_layers,
        num_heads=2,
        ffn_dim=32,
    )
