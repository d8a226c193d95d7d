"""Official-protocol HOI evaluation: HICO-DET (Default, Known-Object) and V-COCO (role AP S1/S2).

* :class:`HICODetEvaluator`, :class:`VCOCOEvaluator`: Detectron2 ``DatasetEvaluator`` s.
* :func:`evaluate_hico_det`, :func:`evaluate_vcoco`: metrics of prediction records (no model).
* :func:`load_predictions`, :func:`save_predictions`, :func:`entries_to_records`,
  :func:`records_to_entries`: the predictions file (format in :mod:`.predictions`).
* :func:`evaluate_oracle_pairs`: verb top-1 accuracy and verb mAP with GT boxes (oracle pairs),
  interaction reading apart from detection and ranking.
* :func:`export_hico_det_matlab`, :func:`export_vcoco_pickle`: inputs of the official tools.
"""

from .hico_det_evaluation import HICODetEvaluator, HICODetResult, evaluate_hico_det
from .hoi_evaluator import HOIEvaluator
from .official_export import export_hico_det_matlab, export_vcoco_pickle
from .oracle_pairs import evaluate_oracle_pairs, oracle_pair_metrics, oracle_pair_outputs
from .predictions import (
    PredictionSpec,
    entries_to_records,
    load_predictions,
    records_to_entries,
    save_predictions,
    validate_record,
)
from .records import make_record, record_from_instances
from .vcoco_evaluation import VCOCOEvaluator, VCOCOResult, evaluate_vcoco

__all__ = [
    "HICODetEvaluator",
    "HICODetResult",
    "HOIEvaluator",
    "PredictionSpec",
    "VCOCOEvaluator",
    "VCOCOResult",
    "entries_to_records",
    "evaluate_oracle_pairs",
    "evaluate_hico_det",
    "evaluate_vcoco",
    "export_hico_det_matlab",
    "export_vcoco_pickle",
    "load_predictions",
    "make_record",
    "oracle_pair_metrics",
    "oracle_pair_outputs",
    "record_from_instances",
    "records_to_entries",
    "save_predictions",
    "validate_record",
]
