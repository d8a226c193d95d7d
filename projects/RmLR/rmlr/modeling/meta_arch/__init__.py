"""Meta-architectures (importing registers them in Detectron2's ``META_ARCH_REGISTRY``)."""

from .rmlr import DEFAULT_LOSS_WEIGHTS, LOSS_NAMES, RmLR, valid_verbs_from_metadata

__all__ = ["DEFAULT_LOSS_WEIGHTS", "LOSS_NAMES", "RmLR", "valid_verbs_from_metadata"]
