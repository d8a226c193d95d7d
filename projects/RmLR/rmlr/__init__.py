"""RmLR: Re-mine, Learn and Reason (Cao et al., ICCV 2023) as a Detectron2 project.

Importing this package registers the meta-architectures (``META_ARCH_REGISTRY``) and the HOI
datasets (``DatasetCatalog`` / ``MetadataCatalog``).
"""

import warnings

# torch >= 2.10 warns (twice) when Detectron2 / torchvision modules that use torch.jit.script are
# imported; not ours to fix, and noise in every tool. Filtered here, before those imports, for all
# tools (they import rmlr first) and library users alike; nothing else is filtered.
warnings.filterwarnings(
    "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
)

from . import data, evaluation, modeling  # noqa: E402,F401  (registration by import)

__version__ = "0.1.0"
