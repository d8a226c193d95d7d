"""Training-loop pieces used by ``tools/lazyconfig_train_net.py``."""

from .defaults import (
    build_resumable_train_loader,
    check_dataset_classes,
    check_weight_sources,
    resolve_device,
)
from .predictor import HOIPredictor, hoi_rows, metadata_from_config
from .results import format_results_table
from .sampler import ResumableTrainingSampler
from .trainer import HOITrainer

__all__ = [
    "HOIPredictor",
    "HOITrainer",
    "ResumableTrainingSampler",
    "build_resumable_train_loader",
    "check_dataset_classes",
    "check_weight_sources",
    "format_results_table",
    "hoi_rows",
    "metadata_from_config",
    "resolve_device",
]
