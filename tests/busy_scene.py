"""A photo-like busy test picture and predictions on it, for the drawing tests (no real photos are
stored in the repository).

:func:`busy_scene_image`: a 960 x 640 outdoor-looking picture, deterministic: sky gradient with
soft clouds, a textured ground of several noise octaves, blurred trees and silhouettes, sensor
noise and JPEG artefacts. :func:`busy_scene_predictions`: 14 triplets on 9 human-object pairs of 5
people and 6 objects with heavily overlapping boxes, in the synthetic dataset's classes: three
people each "ride bicycle" (two bicycles overlap), one object shared by three pairs, pairs with up
to three verbs.
"""

import cv2
import numpy as np
import torch
from detectron2.structures import Boxes, Instances

from rmlr.data import SYNTHETIC_VERBS

WIDTH, HEIGHT = 960, 640
# COCO-80 ids
BICYCLE, SPORTS_BALL, KITE, CUP = 1, 32, 33, 41


def _noise(rng, height, width, octaves=5):
    """Fractal value noise in [0, 1]."""
    out = np.zeros((height, width), np.float32)
    amplitude, total = 1.0, 0.0
    for k in range(octaves):
        cells = 4 * 2**k
        grid = rng.random((cells + 1, int(cells * width / height) + 1)).astype(np.float32)
        out += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        total += amplitude
        amplitude *= 0.55
    out /= total
    return (out - out.min()) / (out.max() - out.min() + 1e-6)


def busy_scene_image(seed: int = 0) -> np.ndarray:
    """(HEIGHT, WIDTH, 3) uint8 RGB."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    sky = (1 - y) * np.array([110, 160, 225], np.float32) + y * np.array([200, 220, 240])
    clouds = _noise(rng, HEIGHT, WIDTH)[..., None]
    image = sky + 60 * np.clip(clouds - 0.5, 0, 1)
    horizon = int(0.45 * HEIGHT)
    ground = _noise(rng, HEIGHT - horizon, WIDTH, octaves=6)[..., None]
    grass = np.array([70, 110, 50], np.float32) * (0.6 + 0.8 * ground)
    path = np.array([150, 130, 105], np.float32) * (0.8 + 0.4 * ground)
    xs = np.arange(WIDTH)[None, :, None]
    ys = np.arange(HEIGHT - horizon)[:, None, None]
    on_path = np.abs(xs - WIDTH / 2) < 60 + 1.2 * ys
    image[horizon:] = np.where(on_path, path, grass)
    canvas = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(9):  # trees on the horizon
        cx, r = int(rng.integers(0, WIDTH)), int(rng.integers(40, 90))
        color = tuple(int(c) for c in rng.integers([20, 60, 20], [60, 110, 50]))
        cv2.circle(canvas, (cx, horizon - r // 2), r, color, -1)
        cv2.rectangle(canvas, (cx - 6, horizon - r // 2), (cx + 6, horizon + 10), (60, 45, 30), -1)
    for _ in range(14):  # people-like silhouettes and things
        x, yb = int(rng.integers(40, WIDTH - 40)), int(rng.integers(horizon + 40, HEIGHT))
        h = int(rng.integers(90, 200))
        color = tuple(int(c) for c in rng.integers(20, 230, 3))
        cv2.ellipse(canvas, (x, yb - h // 2), (h // 6, h // 2), 0, 0, 360, color, -1)
        cv2.circle(canvas, (x, yb - h - h // 10), h // 9, (200, 160, 130), -1)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 1.6)
    grain = rng.normal(0, 6, canvas.shape)
    canvas = np.clip(canvas.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


# people and objects (x1, y1, x2, y2), overlapping as in a crowded photo
_PEOPLE = [
    (150, 250, 290, 600),
    (250, 230, 380, 590),
    (420, 260, 540, 620),
    (600, 240, 720, 600),
    (700, 280, 820, 630),
]
_OBJECTS = [
    ((120, 420, 330, 620), BICYCLE),
    ((230, 410, 440, 610), BICYCLE),
    ((400, 440, 600, 630), BICYCLE),
    ((560, 90, 660, 190), KITE),
    ((640, 560, 700, 615), SPORTS_BALL),
    ((520, 380, 560, 420), CUP),
]
# (person, object, verb name, score)
_TRIPLETS = [
    (0, 0, "ride", 0.91),
    (1, 1, "ride", 0.88),
    (2, 2, "ride", 0.84),
    (0, 0, "hold", 0.72),
    (1, 1, "hold", 0.66),
    (3, 3, "look_at", 0.63),
    (4, 3, "look_at", 0.58),
    (2, 3, "look_at", 0.41),
    (4, 4, "kick", 0.55),
    (3, 4, "look_at", 0.37),
    (2, 5, "hold", 0.52),
    (2, 2, "look_at", 0.33),
    (1, 0, "look_at", 0.29),
    (0, 1, "look_at", 0.22),
]


def busy_scene_predictions() -> Instances:
    """``hoi_instances`` on :func:`busy_scene_image` (synthetic dataset classes)."""
    rows = _TRIPLETS
    out = Instances((HEIGHT, WIDTH))
    out.pred_subject_boxes = Boxes(
        torch.tensor([_PEOPLE[p] for p, _, _, _ in rows], dtype=torch.float)
    )
    out.pred_object_boxes = Boxes(
        torch.tensor([_OBJECTS[o][0] for _, o, _, _ in rows], dtype=torch.float)
    )
    out.pred_object_classes = torch.tensor([_OBJECTS[o][1] for _, o, _, _ in rows])
    out.pred_verb_classes = torch.tensor([SYNTHETIC_VERBS.index(v) for _, _, v, _ in rows])
    out.scores = torch.tensor([s for _, _, _, s in rows])
    return out
