#!/usr/bin/env python
"""Data loading speed: images/s of the HOI mapper with UPT's training augmentation, through
Detectron2's training loader with 0, 1 and 2 workers.

Uses the synthetic dataset's images with UPT's HICO-DET augmentation (shorter side 480-800, crop
branch, flip, colour jitter), so each image goes through the same resize/crop/jitter work as a
HICO-DET image of that size; decoding cost is that of small PNGs (a HICO-DET JPEG decodes slower).

    python benchmarks/bench_data.py --output output/bench_data.json
"""

import argparse
import json
import os
import time
import warnings

warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")

from detectron2.data import DatasetCatalog, build_detection_train_loader  # noqa: E402

from rmlr.data import HOIDatasetMapper  # noqa: E402
from rmlr.utils.cost import machine_info, machine_summary  # noqa: E402


def images_per_second(dataset, mapper, workers, batch, batches, warmup):
    loader = build_detection_train_loader(
        dataset=dataset,
        mapper=mapper,
        total_batch_size=batch,
        aspect_ratio_grouping=False,
        num_workers=workers,
    )
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batch * batches / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic_hoi_train")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--output", default="output/bench_data.json")
    args = p.parse_args(argv)

    dataset = DatasetCatalog.get(args.dataset)
    mapper = HOIDatasetMapper.for_dataset(args.dataset, is_train=True)
    rates = {
        w: images_per_second(dataset, mapper, w, args.batch, args.batches, args.warmup)
        for w in args.workers
    }
    result = {
        "machine": machine_info("cpu"),
        "dataset": args.dataset,
        "augmentation": "UPT training (HICO-DET scales)",
        "images_per_second": {str(w): r for w, r in rates.items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    print(machine_summary(result["machine"]))
    for w, r in rates.items():
        print(f"{w} worker(s): {r:.1f} images/s")
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
