"""HOI datasets for RmLR: loaders, registration, the dataset mapper and the synthetic dataset.

Importing this package registers ``hico_det_{train,test}``, ``vcoco_{trainval,train,val,test}``
``synthetic_hoi_{train,test}`` (:mod:`.builtin`) and the zero-shot / low-data training sets derived
from them (:mod:`.subsets`). Dataset dicts, metadata and mapper output
follow ``projects/RmLR/README.md``.
"""

from . import builtin  # noqa: F401  (registration by import)
from .annotation_text import (
    build_hoi_text,
    interaction_sentence,
    join_sentences,
    join_sentences_with_spans,
    readable_name,
    verb_phrase,
)
from .entity_dataset import hoi_to_detection_dicts, register_entity_dataset
from .hico_det import (
    count_hoi_instances,
    hico_det_rare_split,
    load_hico_det_json,
    register_hico_det,
)
from .image_io import read_image_checked, read_image_size
from .mapper import HOIDatasetMapper
from .metadata import (
    COCO_THING_CLASSES,
    HICO_HOI_CLASSES,
    HICO_VERBS,
    PERSON_CATEGORY_ID,
    VCOCO_ACTION_ROLES,
    HOIMetadata,
)
from .subsets import (
    LOW_DATA_PERCENTS,
    register_hoi_subset,
    seen_valid_verbs_from_metadata,
    unseen_hoi_ids_from_metadata,
)
from .synthetic import (
    SYNTHETIC_HOI_CLASSES,
    SYNTHETIC_KEYPOINT_METADATA,
    SYNTHETIC_OBJECTS,
    SYNTHETIC_VERB_CUES,
    SYNTHETIC_VERBS,
    ensure_synthetic_hoi,
    generate_synthetic_hoi,
    register_synthetic_hoi,
)
from .test_loader import build_hoi_test_loader
from .transforms import ColorJitter, ColorJitterTransform, RandomSelect, build_upt_augmentation
from .vcoco import load_vcoco_json, register_vcoco
from .zero_shot import (
    hico_det_zero_shot_splits,
    read_unseen_hoi_ids,
    synthetic_zero_shot_splits,
    zero_shot_unseen_hoi_ids,
)

__all__ = [
    "build_hoi_test_loader",
    "hoi_to_detection_dicts",
    "register_entity_dataset",
    "HOIDatasetMapper",
    "read_image_checked",
    "read_image_size",
    "register_hico_det",
    "register_vcoco",
    "load_hico_det_json",
    "load_vcoco_json",
    "count_hoi_instances",
    "hico_det_rare_split",
    "build_upt_augmentation",
    "ColorJitter",
    "ColorJitterTransform",
    "RandomSelect",
    "build_hoi_text",
    "interaction_sentence",
    "join_sentences",
    "join_sentences_with_spans",
    "readable_name",
    "verb_phrase",
    "register_synthetic_hoi",
    "generate_synthetic_hoi",
    "ensure_synthetic_hoi",
    "SYNTHETIC_OBJECTS",
    "SYNTHETIC_VERBS",
    "SYNTHETIC_HOI_CLASSES",
    "SYNTHETIC_VERB_CUES",
    "SYNTHETIC_KEYPOINT_METADATA",
    "COCO_THING_CLASSES",
    "HICO_VERBS",
    "HICO_HOI_CLASSES",
    "VCOCO_ACTION_ROLES",
    "PERSON_CATEGORY_ID",
    "HOIMetadata",
    "LOW_DATA_PERCENTS",
    "register_hoi_subset",
    "seen_valid_verbs_from_metadata",
    "unseen_hoi_ids_from_metadata",
    "hico_det_zero_shot_splits",
    "read_unseen_hoi_ids",
    "synthetic_zero_shot_splits",
    "zero_shot_unseen_hoi_ids",
]
