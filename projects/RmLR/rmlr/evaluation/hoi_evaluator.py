"""The Detectron2 ``DatasetEvaluator`` skeleton shared by the HICO-DET and V-COCO evaluators.

``process()`` keeps one compact record per image (:mod:`.records`) of the model's inference
output ``{"hoi_instances": Instances}`` (original image coordinates, see the project README);
nothing is capped or filtered. ``evaluate()`` gathers the records of all ranks on the main process
in dataset order (so 1 and N processes give identical numbers), validates them, writes the
predictions file and the official-tool export to ``output_dir``, and hands the records to the
dataset-specific metric (a subclass's ``_evaluate_records``), whose per-class APs go to
``output_dir`` as a CSV and a plot (:mod:`.ap_plot`). The experiment configs set ``output_dir`` to
the run's ``train.output_dir``.
"""

import abc
import logging
import os
from typing import Dict, Optional

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator

from .ap_plot import plot_per_class_ap
from .predictions import PredictionSpec, records_to_entries, save_predictions, validate_record
from .records import gather_records, record_from_instances

PREDICTIONS_FILE = "hoi_predictions.json.gz"

logger = logging.getLogger(__name__)


class HOIEvaluator(DatasetEvaluator, abc.ABC):
    """Base class: subclasses set ``task`` and implement ``_evaluate_records`` and ``_export``."""

    task = ""

    def __init__(
        self,
        dataset_name: str,
        output_dir: Optional[str] = None,
        *,
        distributed: bool = True,
        save_predictions: bool = True,
        export_official: bool = False,
    ):
        """
        Args:
            dataset_name: a registered dataset whose ``evaluator_type`` is the subclass's task.
            output_dir: where files go (the configs: the run's folder); nothing is written
                without it.
            distributed: gather records from all ranks (results only on the main process).
            save_predictions: write the predictions file ``hoi_predictions.json.gz``.
            export_official: also write the files of the official evaluation tool.
        """
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._distributed = distributed
        self._save_predictions = save_predictions
        self._export_official = export_official
        self._records: Dict[int, Dict[str, np.ndarray]] = {}

    def reset(self):
        self._records = {}

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            self._records[inp["image_id"]] = record_from_instances(out["hoi_instances"])

    def evaluate(self):
        dataset_dicts = DatasetCatalog.get(self._dataset_name)
        metadata = MetadataCatalog.get(self._dataset_name)
        image_ids = [d["image_id"] for d in dataset_dicts]
        records = gather_records(self._records, image_ids, self._distributed)
        if records is None:
            return {}
        spec = PredictionSpec.from_metadata(metadata)
        for image_id, record in records.items():
            validate_record(record, spec, f"model output for image_id {image_id}")
        if self._output_dir:
            os.makedirs(self._output_dir, exist_ok=True)
            if self._save_predictions:
                path = os.path.join(self._output_dir, PREDICTIONS_FILE)
                save_predictions(records_to_entries(records, dataset_dicts), path)
            if self._export_official:
                self._export(records, dataset_dicts, metadata, self._output_dir)
        result = self._evaluate_records(dataset_dicts, metadata, records)
        if self._output_dir:
            stem = os.path.join(self._output_dir, f"{self.task}_per_class_ap")
            result.write_csv(stem + ".csv")
            plot_per_class_ap(
                result, stem + ".png", title=f"{self._dataset_name}: {self.task} per-class AP"
            )
            logger.info(
                f"wrote the predictions and per-class AP (.csv, .png) to {self._output_dir}"
            )
        logger.info(f"{self.task} results (%) on {self._dataset_name}:\n" + result.table())
        return {self.task: result.flat()}

    @abc.abstractmethod
    def _evaluate_records(self, dataset_dicts, metadata, records):
        """Metric of validated records: an object with ``flat()``, ``table()``, ``write_csv()``."""

    @abc.abstractmethod
    def _export(self, records, dataset_dicts, metadata, output_dir: str) -> None:
        """Write the official tool's input files of the records into ``output_dir``."""
