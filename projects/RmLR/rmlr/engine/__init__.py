"""Training-loop pieces used by ``tools/lazyconfig_train_net.py`` and the tools."""

from .defaults import (
    build_resumable_train_loader,
    build_trainer,
    check_dataset_classes,
    check_weight_sources,
    resolve_device,
)
from .predictor import HOIPredictor, hoi_rows, metadata_from_config
from .results import format_results_table
from .resume import StateCheckpointer, repair_metrics_file, resume_training_state
from .rng_state import capture_rng_state, preserved_rng, restore_rng_state, sample_rng
from .sampler import ResumableTrainingSampler
from .threads import available_cores, choose_torch_threads, configure_torch_threads
from .train_loader import ResumableTrainLoader
from .trainer import HOITrainer
from .weights import (
    check_entity_detector_loaded,
    checkpoint_has_entity_detector,
    load_model_for_inference,
    read_training_checkpoint,
    use_checkpoint_entity_detector,
    use_checkpoint_pose_estimator,
)

__all__ = [
    "HOIPredictor",
    "HOITrainer",
    "ResumableTrainLoader",
    "ResumableTrainingSampler",
    "StateCheckpointer",
    "available_cores",
    "build_resumable_train_loader",
    "build_trainer",
    "capture_rng_state",
    "check_dataset_classes",
    "check_entity_detector_loaded",
    "check_weight_sources",
    "choose_torch_threads",
    "configure_torch_threads",
    "checkpoint_has_entity_detector",
    "format_results_table",
    "hoi_rows",
    "load_model_for_inference",
    "metadata_from_config",
    "preserved_rng",
    "read_training_checkpoint",
    "repair_metrics_file",
    "resolve_device",
    "restore_rng_state",
    "resume_training_state",
    "sample_rng",
    "use_checkpoint_entity_detector",
    "use_checkpoint_pose_estimator",
]
