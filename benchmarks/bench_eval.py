#!/usr/bin/env python
"""Evaluation speed (issue 5): HICO-DET Default + Known-Object and V-COCO on the real test sets.

Generates ``--per-image`` predictions for every test image (HICO-DET: 9,658 images; V-COCO: 4,946),
about a third of them jittered GT pairs (mostly of the right class), the rest random boxes and
classes, float32 like a model's output; then times the vectorized evaluators (best of
``--repeat``), pinned to one CPU core. ``--oracle`` also runs the per-detection reference loop of
``tests/hoi_eval_oracle.py`` on the same predictions and checks that every per-class AP is
bit-identical (slow: minutes). The HICO-DET predictions file is also written, read back and
validated (timed separately: it is I/O, not evaluation).

    python benchmarks/bench_eval.py --data ../shared/data --output output/bench_eval.json

Prints the machine (CPU model, cores, Python / NumPy / torch versions) and writes JSON.
"""

import argparse
import importlib.util
import json
import os
import tempfile
import time
import warnings

# One core: pin before NumPy starts any thread pool (the matching uses none, sorting neither).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import numpy as np  # noqa: E402
from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402

from rmlr.data import register_hico_det, register_vcoco  # noqa: E402
from rmlr.evaluation import (  # noqa: E402
    PredictionSpec,
    entries_to_records,
    evaluate_hico_det,
    evaluate_vcoco,
    load_predictions,
    make_record,
    records_to_entries,
    save_predictions,
)
from rmlr.evaluation.hico_det_evaluation import (  # noqa: E402
    hico_det_detections,
    hico_det_ground_truth,
)
from rmlr.evaluation.official_export import vcoco_detections as vsrl_dicts  # noqa: E402
from rmlr.evaluation.vcoco_evaluation import vcoco_detections, vcoco_ground_truth  # noqa: E402
from rmlr.utils.cost import machine_info  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def describe_machine(pinned: bool):
    info = machine_info("cpu")
    info["pinned_to_one_core"] = pinned
    return info


def pin_one_core() -> bool:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        return True
    return False


def jitter(boxes, rng, amount=0.3):
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    scale = np.stack([w, h, w, h], axis=1)
    out = boxes + rng.uniform(-amount, amount, boxes.shape) * scale
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2])
    return out


def generate(dicts, classes, per_image, seed, gt_fraction=0.35, no_object=0.0):
    """``per_image`` predictions per image: jittered GT pairs and random ones (float32)."""
    rng = np.random.default_rng(seed)
    classes = np.asarray(classes, dtype=np.int64)
    records = {}
    for d in dicts:
        anns, pairs = d["annotations"], np.asarray(d["interactions"], np.int64).reshape(-1, 3)
        width, height = d.get("width") or 640, d.get("height") or 480
        boxes = np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        cats = np.asarray([a["category_id"] for a in anns], np.int64)
        n_gt = int(rng.binomial(per_image, gt_fraction)) if len(pairs) else 0
        pick = pairs[rng.integers(len(pairs), size=n_gt)] if n_gt else np.zeros((0, 3), np.int64)
        cls = classes[rng.integers(len(classes), size=per_image)]
        obj, verb = cls[:, 0].copy(), cls[:, 1].copy()
        keep_class = rng.random(n_gt) < 0.8
        obj[:n_gt] = np.where(keep_class, cats[pick[:, 1]], obj[:n_gt])
        verb[:n_gt] = np.where(keep_class, pick[:, 2], verb[:n_gt])
        corners = rng.uniform(0, 1, (per_image, 2, 4)) * [width, height, width, height]
        rand = np.concatenate(
            [
                np.minimum(corners[:, :, :2], corners[:, :, 2:]),
                np.maximum(corners[:, :, :2], corners[:, :, 2:]),
            ],
            axis=2,
        )
        subj, objb = rand[:, 0], rand[:, 1]
        subj[:n_gt] = jitter(boxes[pick[:, 0]], rng)
        objb[:n_gt] = jitter(boxes[pick[:, 1]], rng)
        if no_object:
            empty = rng.random(per_image) < no_object
            objb[empty], obj[empty] = np.nan, -1
        scores = rng.random(per_image).astype(np.float32)
        records[d["image_id"]] = make_record(
            subj.astype(np.float32), objb.astype(np.float32), obj, verb, scores
        )
    return records


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), times, out


def bench_hico(data, per_image, repeat, oracle):
    name = "bench_hico_det_test"
    register_hico_det(name, os.path.join(data, "hicodet", "instances_test2015.json"), "/unused")
    dicts, meta = DatasetCatalog.get(name), MetadataCatalog.get(name)
    records = generate(dicts, meta.hoi_classes, per_image, seed=0)
    num = sum(len(r["scores"]) for r in records.values())
    best, times, result = best_of(lambda: evaluate_hico_det(dicts, meta, records), repeat)
    gt_time = best_of(lambda: hico_det_ground_truth(dicts, meta), 1)[0]
    det_time = best_of(lambda: hico_det_detections(records, dicts, meta), 1)[0]
    out = {
        "images": len(dicts),
        "predictions": num,
        "seconds_default_plus_known_object": best,
        "all_runs": times,
        "of_which_ground_truth_arrays": gt_time,
        "of_which_detection_arrays": det_time,
        "mAP": result.summary(),
    }
    out["predictions_file"] = time_predictions_file(records, dicts, meta)
    if oracle:
        out["oracle"] = run_hico_oracle(dicts, meta, records, result)
    return out


def time_predictions_file(records, dicts, meta):
    """Seconds to write the ``.json.gz`` predictions file and to read + validate it again."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "hoi_predictions.json.gz")
        write, _, _ = best_of(lambda: save_predictions(records_to_entries(records, dicts), path), 1)
        spec = PredictionSpec.from_metadata(meta)
        read, _, back = best_of(lambda: entries_to_records(load_predictions(path), dicts, spec), 1)
        return {
            "write_seconds": write,
            "read_and_validate_seconds": read,
            "megabytes": os.path.getsize(path) / 1e6,
            "identical_after_round_trip": all(
                np.array_equal(back[k][f], records[k][f], equal_nan=True)
                for k in records
                for f in records[k]
            ),
        }


def load_test_module(name):
    """A module of ``tests/`` (the oracle lives with the tests), loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tests", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_hico_oracle(dicts, meta, records, result):
    helpers, oracle = load_test_module("hoi_eval_helpers"), load_test_module("hoi_eval_oracle")
    start = time.perf_counter()
    gt_pairs = helpers.gt_pairs_from_dicts(dicts, meta.hoi_classes)
    gt_all, det_all = helpers.oracle_hico_inputs(gt_pairs, records, dicts, meta.hoi_classes)
    objects = [o for o, _ in meta.hoi_classes]
    ap_def, _ = oracle.hico_det_oracle(gt_all, det_all, objects)
    ko = helpers.image_objects_from_pairs(gt_pairs, meta.hoi_classes, len(meta.thing_classes))
    ap_ko, _ = oracle.hico_det_oracle(gt_all, det_all, objects, ko)
    return {
        "seconds": time.perf_counter() - start,
        "identical_default": result.ap.ap_default.tolist() == ap_def,
        "identical_known_object": result.ap.ap_known_object.tolist() == ap_ko,
        "max_abs_diff": float(
            max(
                np.max(np.abs(result.ap.ap_default - ap_def)),
                np.max(np.abs(result.ap.ap_known_object - ap_ko)),
            )
        ),
    }


def bench_vcoco(data, per_image, repeat, oracle):
    name = "bench_vcoco_test"
    register_vcoco(name, os.path.join(data, "vcoco", "instances_vcoco_test.json"), "/unused")
    dicts, meta = DatasetCatalog.get(name), MetadataCatalog.get(name)
    classes = [(o, v) for v in range(len(meta.verb_classes)) for o in range(1, 80)]
    records = generate(dicts, classes, per_image, seed=1, no_object=0.05)
    num = sum(len(r["scores"]) for r in records.values())
    best, times, result = best_of(lambda: evaluate_vcoco(dicts, meta, records), repeat)
    out = {
        "images": len(dicts),
        "predictions": num,
        "seconds_role_s1_s2_plus_agent": best,
        "all_runs": times,
        "of_which_ground_truth_arrays": best_of(lambda: vcoco_ground_truth(dicts, meta), 1)[0],
        "of_which_detection_arrays": best_of(lambda: vcoco_detections(records, dicts), 1)[0],
        "AP": result.flat(),
    }
    if oracle:
        out["oracle"] = run_vcoco_oracle(dicts, meta, records, result)
    return out


def run_vcoco_oracle(dicts, meta, records, result):
    helpers, oracle = load_test_module("hoi_eval_helpers"), load_test_module("hoi_eval_oracle")
    start = time.perf_counter()
    action_roles, actions = helpers.action_roles_of(meta.verb_classes)
    db = helpers.oracle_vcocodb(dicts, action_roles, len(actions))
    dets = vsrl_dicts(records, dicts, meta)
    s1 = oracle.vcoco_oracle(db, dets, action_roles, "scenario_1")
    s2 = oracle.vcoco_oracle(db, dets, action_roles, "scenario_2")
    agent = oracle.vcoco_agent_oracle(db, dets, actions)
    same = lambda a, b: bool(np.array_equal(a, np.asarray(b), equal_nan=True))  # noqa: E731
    return {
        "seconds": time.perf_counter() - start,
        "identical_s1": same(result.ap.role_ap_s1, s1),
        "identical_s2": same(result.ap.role_ap_s2, s2),
        "identical_agent": same(result.ap.agent_ap, agent),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        default=os.path.join(REPO, "..", "shared", "data"),
        help="folder with hicodet/ and vcoco/",
    )
    parser.add_argument("--per-image", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--oracle", action="store_true", help="also run and compare the slow oracle"
    )
    parser.add_argument("--output", default=os.path.join(REPO, "output", "bench_eval.json"))
    args = parser.parse_args()
    machine = describe_machine(pin_one_core())
    print(json.dumps(machine, indent=2))
    report = {"machine": machine, "per_image": args.per_image}
    report["hico_det"] = bench_hico(args.data, args.per_image, args.repeat, args.oracle)
    print("HICO-DET:", json.dumps(report["hico_det"], indent=2))
    report["vcoco"] = bench_vcoco(args.data, args.per_image, args.repeat, args.oracle)
    print("V-COCO:", json.dumps(report["vcoco"], indent=2))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
