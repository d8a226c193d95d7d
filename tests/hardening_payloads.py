"""Inputs for the hardening tests: valid annotation files to mutate (``BASES``), files that run
code when read unsafely (each would create a marker file), a decompression-bomb PNG, and a local
HTTP server for weights by URL."""

import functools
import http.server
import os
import pickle
import struct
import threading
import zlib

import numpy as np
import torch

from rmlr.data import HICO_HOI_CLASSES
from rmlr.data.metadata import COCO_THING_CLASSES, HICO_VERBS, VCOCO_ACTION_ROLES

RIDE_BICYCLE = (1, 76)  # (object, verb) of a HICO-DET HOI class


def hico_upt():
    obj, verb = RIDE_BICYCLE
    return {
        "filenames": ["HICO_test2015_00000001.jpg"],
        "size": [[100, 80]],
        "annotation": [
            {
                "boxes_h": [[1, 1, 20, 60]],
                "boxes_o": [[30, 40, 90, 80]],
                "hoi": [HICO_HOI_CLASSES.index(RIDE_BICYCLE)],
                "object": [obj],
                "verb": [verb],
            }
        ],
        "objects": [n.replace(" ", "_") for n in COCO_THING_CLASSES],
        "verbs": list(HICO_VERBS),
        "correspondence": [[i, o, v] for i, (o, v) in enumerate(HICO_HOI_CLASSES)],
    }


def hico_ppdm():
    return [
        {
            "file_name": "HICO_test2015_00000001.jpg",
            "width": 100,
            "height": 80,
            "annotations": [
                {"bbox": [1, 1, 20, 60], "category_id": 1},
                {"bbox": [30, 40, 90, 80], "category_id": 2},
            ],
            "hoi_annotation": [{"subject_id": 0, "object_id": 1, "category_id": 77}],
        }
    ]


def vcoco():
    image = {
        "boxes_h": [[0, 0, 10, 10]],
        "boxes_o": [[20, 20, 30, 30]],
        "actions": [0],
        "objects": [42],
        "file_name": "COCO_val2014_000000000007.jpg",
    }
    return {
        "annotations": [image, dict(image, file_name="COCO_val2014_000000000008.jpg")],
        "classes": list(VCOCO_ACTION_ROLES),
        "objects": ["background"] + list(COCO_THING_CLASSES),
        "images": [7, 8],
        "size": [[64, 48], [64, 48]],
    }


BASES = {"hico_upt": hico_upt, "hico_ppdm": hico_ppdm, "vcoco": vcoco}


class Payload:
    """Unpickling it runs ``touch <marker>``: the marker file appearing means code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def numpy_state(state):
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def write_pkl(path, marker):
    """A ``.pkl`` that is only a payload."""
    with open(path, "wb") as f:
        pickle.dump({"model": {}, "__author__": "x", "x": Payload(marker)}, f)
    return str(path)


def write_stealth_pkl(path, marker, state):
    """A Detectron2 model-zoo style ``.pkl`` with the real weights (numpy arrays) plus a payload:
    an unsafe loader returns working weights and nothing looks wrong."""
    with open(path, "wb") as f:
        pickle.dump(
            {
                "model": numpy_state(state),
                "__author__": "Detectron2 Model Zoo",
                "p": Payload(marker),
            },
            f,
        )
    return str(path)


def write_pth(path, marker, state):
    """A torch checkpoint with the real weights plus a payload (runs with weights_only=False,
    e.g. under TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 when weights_only is not passed)."""
    torch.save({"model": state, "p": Payload(marker)}, path)
    return str(path)


YAML_PAYLOADS = {
    "python/object/apply": "train: !!python/object/apply:os.system ['touch {marker}']\n",
    "python/object/new": "train: !!python/object/new:os.system ['touch {marker}']\n",
    "_target_ subprocess.call": (
        "model: {{_target_: subprocess.call, args: [touch, '{marker}']}}\ntrain: {{}}\n"
    ),
    # an allowed-looking prefix that reaches a function defined elsewhere
    "_target_ through a module attribute": (
        "model: {{_target_: detectron2.data.datasets.coco.os.system, command: 'touch {marker}'}}\n"
        "train: {{}}\n"
    ),
}


def write_yaml(path, marker, kind):
    path.write_text(YAML_PAYLOADS[kind].format(marker=marker))
    return str(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb_png(path, side=15000):
    """A 1-bit PNG of ``side`` x ``side`` pixels (225 M pixels for 15000, more than twice Pillow's
    limit) in about 25 kB: decoding it would take hundreds of MB."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))
    return str(path)


class LocalServer:
    """An HTTP server on 127.0.0.1 serving ``folder`` from a thread (``with LocalServer(d) as s:
    s.url("model.pth")``)."""

    def __init__(self, folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def object_array_pickle(path):
    """A ``.pkl`` whose array has dtype object (its items could be anything)."""
    with open(path, "wb") as f:
        pickle.dump({"model": {"w": np.array([1, "a"], dtype=object)}}, f)
    return str(path)
