#!/usr/bin/env python
"""Detect human-object interactions on images or a video and draw them.

examples:
  python tools/demo.py --config-file projects/RmLR/configs/rmlr/rmlr_r50_hico_det.py \\
      --checkpoint model_final.pth --input photos/*.jpg --output out/
  python tools/demo.py --config-file CFG --checkpoint CKPT --input folder/ --verb ride --top-k 5
  python tools/demo.py --config-file CFG --checkpoint CKPT --video-input clip.mp4 --output out/
  python tools/demo.py --config-file CFG --checkpoint CKPT --input folder/ --output out/ \\
      --device cuda --batch-size 8
  python tools/demo.py --config-file CFG --checkpoint CKPT --input img.jpg --output out/ \\
      --attention 2 --scale 2

For every image: <output>/<name>.png with human boxes (solid), object boxes (dashed), a line per
pair and "verb object score" labels that never overlap (next to their pair, or numbered in a side
panel when the picture is busy), colours fixed per verb; and <output>/predictions.json with the
shown triplets per image (the predictions-file rows, README) and the picture's name. Inputs with
the same base name get distinct picture names. An image that cannot be read is skipped, counted
and reported at the end; the others are still drawn and written. Progress and ETA go to stderr.
"""

import rmlr  # noqa: F401  isort: skip  (first: it quiets a torch warning before other imports)

import argparse
import glob
import json
import os
import sys

import cv2
import numpy as np
from detectron2.utils.logger import setup_logger
from PIL import Image

from rmlr.config import ConfigError, load_config
from rmlr.data import read_image_checked
from rmlr.engine import HOIPredictor, hoi_rows, metadata_from_config, resolve_device
from rmlr.utils import HOIVisualizer, select_hoi_rows
from rmlr.utils.attention_maps import AttentionRecorder
from rmlr.utils.attention_view import draw_attention, pair_names
from rmlr.utils.cli import (
    positive_float,
    positive_int,
    run_tool,
    tool_parser,
    unique_output_names,
    unit_interval,
)
from rmlr.utils.progress import Progress

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# what reading a broken image raises (PIL's errors, OpenCV's, a truncated file)
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def get_parser():
    p = tool_parser(__doc__, __file__)
    p.add_argument(
        "--config-file",
        required=True,
        metavar="FILE",
        help="the LazyConfig the model was trained with (model, test resize, class names)",
    )
    p.add_argument(
        "--checkpoint",
        default="",
        metavar="FILE",
        help="trained weights (default: train.init_checkpoint of the config)",
    )
    p.add_argument(
        "--input", nargs="+", default=[], metavar="PATH", help="images, folders or glob patterns"
    )
    p.add_argument("--video-input", metavar="FILE", help="a video file; writes <output>/<name>.mp4")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--score-thresh",
        type=unit_interval,
        default=0.2,
        metavar="S",
        help="show triplets with score >= S, in [0, 1] (default: %(default)s)",
    )
    p.add_argument(
        "--top-k",
        type=positive_int,
        default=10,
        metavar="K",
        help="show at most K triplets per image, the best first (default: %(default)s)",
    )
    p.add_argument(
        "--verb", metavar="NAME", help="show only this verb (a name of the dataset's verb list)"
    )
    p.add_argument(
        "--scale",
        type=positive_float,
        default=1.0,
        help="draw on a canvas this many times larger, for small images (default: %(default)s)",
    )
    p.add_argument(
        "--labels",
        choices=("auto", "inline", "panel"),
        default="auto",
        help="labels next to their pairs, numbered in a side panel, or inline unless busy "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--attention",
        type=int,
        default=0,
        metavar="K",
        help="also write <name>.attention<k>.png for the K best shown pairs: the image regions "
        "the IRE pooled and the IRM's attention to the other pairs (default: 0, none)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        metavar="B",
        help="images (or video frames) per forward; predictions do not depend on it "
        "(default: the config's dataloader.test.batch_size, else 1)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N (default: %(default)s)",
    )
    p.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        metavar="KEY=VALUE",
        help="config overrides at the end, e.g. model.entity_detector.checkpoint=detr.pth",
    )
    return p


def expand_inputs(patterns):
    """Files from paths, folders (their images, sorted) and globs, each once; an unmatched pattern
    is a ``ValueError`` naming it."""
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
            raise ValueError(f"--input {pattern!r}: no such image, folder or match")
        files += found
    return list(dict.fromkeys(files))


def resolve_verb(name, metadata):
    if name is None:
        return None
    verbs = list(metadata.get("verb_classes", [])) if metadata is not None else []
    readable = [v.replace("_", " ") for v in verbs]
    for candidates in (verbs, readable):
        if name in candidates:
            return candidates.index(name)
    if not verbs:
        raise ValueError(f"--verb {name!r}: the config's test dataset names no verbs")
    raise ValueError(f"--verb {name!r} is not a verb of this dataset; known: {', '.join(verbs)}")


def draw(image_rgb, instances, metadata, args, verb):
    vis = HOIVisualizer(image_rgb, metadata, scale=args.scale, label_mode=args.labels)
    out = vis.draw_hoi_predictions(
        instances, score_thresh=args.score_thresh, top_k=args.top_k, verb=verb
    )
    rows = select_hoi_rows(instances, score_thresh=args.score_thresh, top_k=args.top_k, verb=verb)
    return out.get_image(), hoi_rows(instances, rows)


def predict(predictor, images, attention: bool):
    """``[(hoi_instances, ImageAttention or None)]`` for a batch of images, in one forward."""
    if not attention:
        return [(inst, None) for inst in predictor.predict(images)]
    with AttentionRecorder(predictor.model) as recorder:
        instances = predictor.predict(images)
    return list(zip(instances, recorder.images([im.shape[:2] for im in images])))


def batches(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_attention(image, instances, att, rows, metadata, args, stem):
    """``<stem>.attention<k>.png`` for the ``args.attention`` best shown pairs."""
    names, verbs = pair_names(att, instances, metadata)
    pairs = list(dict.fromkeys(att.pair_index(r["subject_box"], r["object_box"]) for r in rows))
    written = []
    for k, pair in enumerate(pairs[: args.attention]):
        picture = draw_attention(
            image,
            att,
            pair,
            pair_labels=names,
            pair_verbs=verbs,
            class_names=list(metadata.get("thing_classes", []) or []),
            scale=args.scale,
        )
        path = os.path.join(args.output, f"{stem}.attention{k + 1}.png")
        cv2.imwrite(path, picture[:, :, ::-1])
        written.append(path)
    return written


def run_video(predictor, path, args, verb):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise FileNotFoundError(f"--video-input {path!r}: cannot open")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    progress = Progress(count if count > 0 else None, "demo video", unit="frames")
    name = os.path.splitext(os.path.basename(path))[0]
    writer, frames, done = None, [], False
    while not done:
        batch = []
        while len(batch) < args.batch_size:
            ok, frame_bgr = cap.read()
            if not ok:
                done = True
                break
            batch.append(np.ascontiguousarray(frame_bgr[:, :, ::-1]))
        for rgb, instances in zip(batch, predictor.predict(batch)):
            drawn, rows = draw(rgb, instances, predictor.metadata, args, verb)
            if writer is None:
                h, w = drawn.shape[:2]
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                out = os.path.join(args.output, name + ".mp4")
                writer = cv2.VideoWriter(out, fourcc, fps, (w, h))
            writer.write(np.ascontiguousarray(drawn[:, :, ::-1]))
            frames.append({"frame": len(frames), "hoi": rows})
            progress.update()
    cap.release()
    if writer is not None:
        writer.release()
    return frames


def check_args(parser, args):
    """Everything that can be checked before the model loads; returns (cfg, files, verb)."""
    if args.attention < 0:
        parser.error(f"--attention must be >= 0, got {args.attention}")
    try:
        files = expand_inputs(args.input)
    except ValueError as e:
        parser.error(str(e))
    if not files and not args.video_input:
        parser.error("nothing to do: give --input and/or --video-input")
    if args.video_input and not os.path.isfile(args.video_input):
        parser.error(f"--video-input {args.video_input!r}: no such file")
    try:
        resolve_device(args.device)
    except RuntimeError as e:
        parser.error(f"--device {args.device}: {e}")
    try:
        cfg = load_config(args.config_file, args.opts)
    except (ConfigError, FileNotFoundError) as e:
        parser.error(str(e))
    try:
        verb = resolve_verb(args.verb, metadata_from_config(cfg))
    except ValueError as e:
        parser.error(str(e))
    return cfg, files, verb


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    cfg, files, verb = check_args(parser, args)
    setup_logger(name="rmlr")
    predictor = HOIPredictor(cfg, checkpoint=args.checkpoint or None, device=args.device)
    metadata = predictor.metadata
    os.makedirs(args.output, exist_ok=True)

    if args.batch_size is None:
        args.batch_size = predictor.batch_size
    results, skipped = [], []
    progress = Progress(len(files), "demo", unit="images", interval=2.0) if files else None
    for chunk in batches(list(zip(files, unique_output_names(files))), args.batch_size):
        loaded = []
        for path, name in chunk:
            try:
                loaded.append((path, name, read_image_checked(path, "RGB")))
            except UNREADABLE as e:
                skipped.append((path, f"{type(e).__name__}: {e}"))
                progress.update(note=f"{path}: cannot read it, skipped")
        predicted = predict(predictor, [image for _, _, image in loaded], args.attention > 0)
        for (path, name, image), (instances, att) in zip(loaded, predicted):
            drawn, rows = draw(image, instances, metadata, args, verb)
            cv2.imwrite(os.path.join(args.output, name), drawn[:, :, ::-1])
            entry = {"file_name": path, "output": name, "hoi": rows}
            if att is not None:
                stem = os.path.splitext(name)[0]
                entry["attention"] = [
                    os.path.basename(p)
                    for p in write_attention(image, instances, att, rows, metadata, args, stem)
                ]
            results.append(entry)
            progress.update(note=f"{path}: {len(rows)} interaction(s) -> {name}")
    if args.video_input:
        results.append(
            {
                "file_name": args.video_input,
                "frames": run_video(predictor, args.video_input, args, verb),
            }
        )
    with open(os.path.join(args.output, "predictions.json"), "w") as f:
        json.dump(results, f)
    print(f"{len(results)} result(s) and predictions.json written to {args.output}")
    if skipped:
        print(
            f"skipped {len(skipped)} of {len(files)} image(s) that could not be read:",
            file=sys.stderr,
        )
        for path, reason in skipped:
            print(f"  {path}: {reason}", file=sys.stderr)
    return results if results else None


if __name__ == "__main__":
    run_tool(main, __file__)
