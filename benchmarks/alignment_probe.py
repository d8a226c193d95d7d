#!/usr/bin/env python
"""Cross-modal alignment probe: does each alignment term need the image and the text?

Trains one alignment branch of the tiny RmLR alone on one term (word level ``anchored`` or
``paper``, sentence level), visual features detached, and reports on held-out synthetic images
the loss with real features, with i.i.d. noise of their statistics, with the annotation texts
shuffled across images, the gradient reaching the features and the spread of the branch's output
across pairs (``rmlr.utils.alignment_probe`` defines each). Two feature sets:

* ``class``: a fixed feature set with known signal (each matched pair: a random code of its HOI
  class + noise of the same size), the pairs, texts and teacher outputs of the real pipeline;
* ``model``: the tiny RmLR's own O^v (shipped tiny DETR, IRE / IRM at their random
  initialisation).

    python benchmarks/alignment_probe.py --seeds 0 1 2 --output output/alignment_probe.json
"""

import argparse
import json
import os
import statistics
import time
import warnings

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

import torch  # noqa: E402

import rmlr  # noqa: E402, F401  (registers the datasets)
from rmlr.utils.alignment_probe import (  # noqa: E402
    class_signal_features,
    collect_batches,
    probe,
)
from rmlr.utils.cost import machine_info, machine_summary  # noqa: E402

ROWS = (("word", "anchored"), ("word", "paper"), ("sentence", "anchored"))
KEYS = ("real", "noise", "shuffled", "noise_ratio", "shuffle_ratio", "grad_ratio", "spread")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--features", nargs="+", choices=("class", "model"), default=["class", "model"])
    p.add_argument("--num-images", type=int, default=160)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--output", default="output/alignment_probe.json")
    args = p.parse_args(argv)
    print(machine_summary(machine_info("cpu")))

    runs = []
    for seed in args.seeds:
        batches, teacher = collect_batches(num_images=args.num_images, seed=seed)
        for features in args.features:
            data = class_signal_features(batches, seed=seed) if features == "class" else batches
            for term, form in ROWS:
                start = time.perf_counter()
                r = probe(
                    data, teacher, term=term, word_formulation=form, seed=seed, steps=args.steps
                )
                r.update(seed=seed, features=features, term=term, formulation=form)
                runs.append(r)
                print(
                    f"seed {seed} {features:5s} {term:8s} {form:8s} "
                    + " ".join(f"{k} {r[k]:.3f}" for k in KEYS)
                    + f" ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )

    print(f"\n{len(args.seeds)} seeds, {args.steps} steps, mean +- std")
    print("features term     formulation  " + "  ".join(f"{k:>15s}" for k in KEYS))
    summary = []
    for features in args.features:
        for term, form in ROWS:
            sel = [
                r
                for r in runs
                if (r["features"], r["term"], r["formulation"]) == (features, term, form)
            ]
            row = dict(features=features, term=term, formulation=form)
            cells = []
            for k in KEYS:
                values = [r[k] for r in sel]
                mean = statistics.mean(values)
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                row[k] = (mean, std)
                cells.append(f"{mean:7.3f} +- {std:5.3f}")
            summary.append(row)
            print(f"{features:8s} {term:8s} {form:11s}  " + "  ".join(cells))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(
            dict(
                args=vars(args),
                machine=machine_summary(machine_info("cpu")),
                runs=runs,
                summary=summary,
            ),
            f,
            indent=1,
        )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
