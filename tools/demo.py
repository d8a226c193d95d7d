#!/usr/bin/env python
"""Detect human-object interactions on images or a video and draw them.

    python tools/demo.py --config-file projects/RmLR/configs/rmlr/rmlr_r50_hico_det.py \
        --input photos/*.jpg --output out/ --checkpoint model_final.pth --score-thresh 0.2
    python tools/demo.py --config-file CFG --checkpoint CKPT --input folder/ --verb ride
    python tools/demo.py --config-file CFG --checkpoint CKPT --video-input clip.mp4 --output out/

For every image: ``<output>/<name>.png`` with human boxes (solid), object boxes (dashed), a line
between them and ``"verb object score"`` labels, and ``<output>/predictions.json`` with the shown
detections in the predictions-file format (README). Runs on CUDA when present (``--device``).
"""

import argparse
import glob
import json
import os
import sys

import cv2
import numpy as np
from detectron2.utils.logger import setup_logger

from rmlr.config import load_config
from rmlr.data import read_image_checked
from rmlr.engine import HOIPredictor, hoi_rows
from rmlr.utils import HOIVisualizer, select_hoi_rows

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def get_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--checkpoint", default="", help="default: train.init_checkpoint of the config")
    p.add_argument("--input", nargs="+", default=[], help="images, folders or globs")
    p.add_argument("--video-input", help="a video file; writes <output>/<name>.mp4")
    p.add_argument("--output", required=True, help="output folder")
    p.add_argument("--score-thresh", type=float, default=0.2)
    p.add_argument("--top-k", type=int, default=10, help="at most this many triplets per image")
    p.add_argument("--verb", help="show only this verb (name as in the dataset's verb list)")
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="draw on an image this many times larger (labels stay readable on small images)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    return p


def expand_inputs(patterns):
    """Files from paths, folders (their images, sorted) and globs; an unmatched one is an error."""
    files = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(
                os.path.join(pattern, f)
                for f in os.listdir(pattern)
                if f.lower().endswith(IMAGE_EXTENSIONS)
            )
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
        if not found:
            raise FileNotFoundError(f"--input {pattern!r}: no such image, folder or match")
        files += found
    return files


def resolve_verb(name, metadata):
    if name is None:
        return None
    verbs = list(metadata.get("verb_classes", []))
    readable = [v.replace("_", " ") for v in verbs]
    for candidates in (verbs, readable):
        if name in candidates:
            return candidates.index(name)
    raise ValueError(f"--verb {name!r} is not a verb of this dataset; known: {', '.join(verbs)}")


def draw(image_rgb, instances, metadata, args, verb):
    vis = HOIVisualizer(image_rgb, metadata, scale=args.scale)
    out = vis.draw_hoi_predictions(
        instances, score_thresh=args.score_thresh, top_k=args.top_k, verb=verb
    )
    rows = select_hoi_rows(instances, score_thresh=args.score_thresh, top_k=args.top_k, verb=verb)
    return out.get_image(), hoi_rows(instances, rows)


def run_video(predictor, path, args, verb):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise FileNotFoundError(f"--video-input {path!r}: cannot open")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    name = os.path.splitext(os.path.basename(path))[0]
    writer, frames = None, []
    while True:
        ok, frame_bgr = cap.read()
        if not ok:
            break
        rgb = frame_bgr[:, :, ::-1]
        drawn, rows = draw(rgb, predictor(rgb), predictor.metadata, args, verb)
        if writer is None:
            h, w = drawn.shape[:2]
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            writer = cv2.VideoWriter(os.path.join(args.output, name + ".mp4"), fourcc, fps, (w, h))
        writer.write(np.ascontiguousarray(drawn[:, :, ::-1]))
        frames.append({"frame": len(frames), "hoi": rows})
    cap.release()
    if writer is not None:
        writer.release()
    return frames


def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.scale <= 0:
        raise SystemExit(f"--scale must be positive, got {args.scale}")
    setup_logger(name="rmlr")
    cfg = load_config(args.config_file, args.opts)
    files = expand_inputs(args.input)
    if not files and not args.video_input:
        raise SystemExit("nothing to do: give --input and/or --video-input")
    predictor = HOIPredictor(cfg, checkpoint=args.checkpoint or None, device=args.device)
    metadata = predictor.metadata
    verb = resolve_verb(args.verb, metadata)
    os.makedirs(args.output, exist_ok=True)

    results = []
    for path in files:
        image = read_image_checked(path, "RGB")
        drawn, rows = draw(image, predictor(image), metadata, args, verb)
        out_path = os.path.join(args.output, os.path.splitext(os.path.basename(path))[0] + ".png")
        cv2.imwrite(out_path, drawn[:, :, ::-1])
        results.append({"file_name": path, "hoi": rows})
        print(f"{path}: {len(rows)} interaction(s) -> {out_path}")
    if args.video_input:
        results.append(
            {
                "file_name": args.video_input,
                "frames": run_video(predictor, args.video_input, args, verb),
            }
        )
    with open(os.path.join(args.output, "predictions.json"), "w") as f:
        json.dump(results, f)
    return results


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
