"""The Detectron2 evaluators on fake model outputs: process/evaluate, the files they write, and
identical results with 1 and 2 processes (``launch`` on CPU with gloo)."""

import csv
import json
import os

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.samplers import InferenceSampler
from detectron2.engine import launch
from detectron2.structures import Boxes, Instances
from detectron2.utils import comm
from hoi_eval_helpers import hico_metadata, image_dict, random_records, vcoco_metadata

from rmlr.evaluation import (
    HICODetEvaluator,
    PredictionSpec,
    VCOCOEvaluator,
    entries_to_records,
    evaluate_hico_det,
    evaluate_vcoco,
    load_predictions,
)

HOIS = [(1, 0), (1, 1), (2, 0), (2, 2)]
HICO_NAME, VCOCO_NAME = "test_eval_tiny_hico", "test_eval_tiny_vcoco"


def _tiny_dicts(seed, num_images=9):
    rng = np.random.default_rng(seed)
    dicts = []
    for i in range(num_images):
        pairs = []
        for _ in range(rng.integers(0, 4)):
            h = np.sort(rng.uniform(0, 60, (2, 2)), axis=1) + [0, 5]
            o = np.sort(rng.uniform(0, 60, (2, 2)), axis=1) + [0, 5]
            obj, verb = HOIS[rng.integers(len(HOIS))]
            pairs.append(
                (
                    [h[0, 0], h[1, 0], h[0, 1], h[1, 1]],
                    [o[0, 0], o[1, 0], o[0, 1], o[1, 1]],
                    obj,
                    verb,
                )
            )
        dicts.append(image_dict(10 + i, pairs, width=70, height=70))
    return dicts


def register_tiny_datasets():
    """Register the tiny HICO-DET / V-COCO datasets (per the dataset-dict contract) once."""
    for name, seed, meta in (
        (HICO_NAME, 0, hico_metadata(HOIS, rare=[3])),
        (VCOCO_NAME, 1, vcoco_metadata()),
    ):
        if name in DatasetCatalog.list():
            continue
        dicts = _tiny_dicts(seed)
        if name == VCOCO_NAME:  # "action role" verbs 0..3
            for d in dicts:
                d["interactions"] = [[s, o, v % 4] for s, o, v in d["interactions"]]
        DatasetCatalog.register(name, lambda dicts=dicts: dicts)
        fields = {k: v for k, v in vars(meta).items() if k != "name"}
        MetadataCatalog.get(name).set(**fields)


def fake_outputs(name, seed):
    """Model-like inputs / outputs for every image (float32 tensors, object always present)."""
    dicts = DatasetCatalog.get(name)
    records = random_records(
        dicts, HOIS, np.random.default_rng(seed), per_image=12, score_decimals=1
    )
    pairs = []
    for d in dicts:
        r = records[d["image_id"]]
        inst = Instances((d["height"], d["width"]))
        inst.pred_subject_boxes = Boxes(torch.as_tensor(r["subject_boxes"], dtype=torch.float32))
        inst.pred_object_boxes = Boxes(torch.as_tensor(r["object_boxes"], dtype=torch.float32))
        inst.pred_object_classes = torch.as_tensor(r["object_classes"])
        inst.pred_verb_classes = torch.as_tensor(r["verbs"])
        inst.scores = torch.as_tensor(r["scores"], dtype=torch.float32)
        pairs.append(
            (
                {"image_id": d["image_id"], "height": d["height"], "width": d["width"]},
                {"hoi_instances": inst},
            )
        )
    return pairs


def run_evaluator(evaluator, pairs, indices):
    evaluator.reset()
    for k in range(0, len(indices), 2):  # batches of two images
        batch = [pairs[i] for i in indices[k : k + 2]]
        evaluator.process([b[0] for b in batch], [b[1] for b in batch])
    return evaluator.evaluate()


EVALUATORS = [(HICODetEvaluator, HICO_NAME, "hico_det"), (VCOCOEvaluator, VCOCO_NAME, "vcoco")]


@pytest.mark.parametrize("cls,name,task", EVALUATORS)
def test_evaluator_process_evaluate_and_files(tmp_path, cls, name, task):
    register_tiny_datasets()
    pairs = fake_outputs(name, seed=5)
    evaluator = cls(name, str(tmp_path), distributed=False, export_official=True)
    results = run_evaluator(evaluator, pairs, list(range(len(pairs)))[::-1])  # any order
    assert list(results) == [task]
    dicts, meta = DatasetCatalog.get(name), MetadataCatalog.get(name)
    entries = load_predictions(str(tmp_path / "hoi_predictions.json.gz"))
    assert [e["image_id"] for e in entries] == [d["image_id"] for d in dicts]  # dataset order
    records = entries_to_records(entries, dicts, PredictionSpec.from_metadata(meta))
    evaluate = evaluate_hico_det if task == "hico_det" else evaluate_vcoco
    assert results[task] == evaluate(dicts, meta, records).flat()  # the file gives the same numbers
    if task == "hico_det":
        assert set(results[task]) == {
            "full",
            "rare",
            "non_rare",
            "ko_full",
            "ko_rare",
            "ko_non_rare",
        }
        assert len(os.listdir(tmp_path / "hico_det_matlab")) == 2  # objects 1 and 2
    else:
        assert set(results[task]) == {"AP_role_S1", "AP_role_S2", "AP_agent"}
        assert os.path.isfile(tmp_path / "vcoco_detections.pkl")
    with open(tmp_path / f"{task}_per_class_ap.csv") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + (len(HOIS) if task == "hico_det" else 4)
    assert all(0 <= v <= 100 or np.isnan(v) for v in results[task].values())


def test_evaluator_rejects_outputs_outside_the_hoi_classes():
    register_tiny_datasets()
    (inp, out), *_ = fake_outputs(HICO_NAME, seed=6)
    out["hoi_instances"].pred_verb_classes[:] = 2
    out["hoi_instances"].pred_object_classes[:] = 1  # (object 1, verb 2) is no HOI class
    evaluator = HICODetEvaluator(HICO_NAME, distributed=False)
    evaluator.process([inp], [out])
    with pytest.raises(ValueError, match="model output for image_id 10: hoi\\[0\\]: .* not one of"):
        evaluator.evaluate()


def two_process_worker(out_dir):
    """Each rank evaluates its InferenceSampler shard; rank 0 writes the results."""
    register_tiny_datasets()
    results = {}
    for cls, name, task in EVALUATORS:
        pairs = fake_outputs(name, seed=7)
        shard = list(InferenceSampler(len(pairs)))
        evaluator = cls(name, os.path.join(out_dir, f"rank{comm.get_rank()}", task))
        results[task] = run_evaluator(evaluator, pairs, shard)
    if comm.is_main_process():
        with open(os.path.join(out_dir, "results.json"), "w") as f:
            json.dump(results, f)
    else:
        assert results == {"hico_det": {}, "vcoco": {}}


@pytest.mark.slow
def test_one_and_two_processes_give_identical_results(tmp_path):
    register_tiny_datasets()
    launch(two_process_worker, num_gpus_per_machine=2, dist_url="auto", args=(str(tmp_path),))
    with open(tmp_path / "results.json") as f:
        two = json.load(f)
    for cls, name, task in EVALUATORS:
        pairs = fake_outputs(name, seed=7)
        one_dir = tmp_path / "one" / task
        one = run_evaluator(
            cls(name, str(one_dir), distributed=False), pairs, list(range(len(pairs)))
        )
        assert two[task] == one  # {task: metrics} from rank 0 == single process
        two_file = load_predictions(str(tmp_path / "rank0" / task / "hoi_predictions.json.gz"))
        assert two_file == load_predictions(str(one_dir / "hoi_predictions.json.gz"))
    assert not os.path.exists(tmp_path / "rank1" / "hico_det" / "hoi_predictions.json.gz")
