"""RmLR: Re-mine, Learn and Reason (Cao et al., ICCV 2023) as a Detectron2 project.

Importing this package registers the meta-architectures (``META_ARCH_REGISTRY``) and the HOI
datasets (``DatasetCatalog`` / ``MetadataCatalog``).
"""

from . import data, evaluation, modeling  # noqa: F401  (registration by import)

__version__ = "0.1.0"
