"""Drawing of the synthetic HOI dataset's entities (:mod:`rmlr.data.synthetic`).

Each entity is drawn on its own canvas the size of its box (``(h, w, 3)`` uint8, zero = empty), so
no stroke can leave the box (cv2 clips to the canvas). A person's box is measured on the
pose-independent part of the drawing (head at the top, torso, a pedestal across the full width at
the bottom), an object's on its shape before the interaction marks: boxes never depend on verbs,
while the verbs change pixels inside the boxes.

Interactions are drawn as **visual cues** (the primitives below); :mod:`rmlr.data.synthetic` maps
each verb to the cues it shows, so verbs with related names share cues. Cues are drawn thick
(limbs 3 px, marks 5-7 px) so that they survive a stride-16 feature map of the ~1.2x resized
images. ``side`` is where the partner is: +1 when the object is right of the person, -1 when left.

* ``ARM``: the arm facing the object stretched out (thick) to the box edge, at the height given by
  exactly one of ``ARM_REACH`` (shoulder height), ``ARM_LOWER`` (hip height), ``ARM_RAISE`` (the
  top corner);
* ``HAND``: a skin-coloured hand on the object, gripping its near edge (with ``ARM_REACH``) or
  under its bottom (with ``ARM_LOWER``);
* ``GAZE``: a yellow gaze cone from the eye to the box edge, and a yellow spot on the object;
* ``LEG_OUT``: the leg facing the object stretched out to the box edge, a dark foot mark on the
  object's near lower corner;
* ``SEATED``: both legs bent as if seated;
* ``LAUNCH``: white motion streaks on the object's far side (it flies away).

People are stick figures facing the viewer (their left is the image's right), with the 17 COCO
keypoints known exactly (:data:`COCO_KEYPOINT_NAMES` order): nose, eyes and ears on the head disc,
shoulders / elbows / wrists at the ends and middle of the drawn arm segments, hips / knees /
ankles on the drawn legs. Every keypoint lies on the drawing (wrists and ankles on the limb
strokes), so poses differ between verbs exactly as the pixels do.
"""

from typing import Collection, Sequence, Tuple

import cv2
import numpy as np
from detectron2.data.datasets.builtin_meta import COCO_PERSON_KEYPOINT_NAMES

__all__ = [
    "BICYCLE",
    "SPORTS_BALL",
    "KITE",
    "CUP",
    "BOOK",
    "ARM",
    "ARM_REACH",
    "ARM_LOWER",
    "ARM_RAISE",
    "HAND",
    "GAZE",
    "LEG_OUT",
    "SEATED",
    "LAUNCH",
    "CUES",
    "COCO_KEYPOINT_NAMES",
    "LIMB_COLOUR",
    "draw_object",
    "draw_object_cues",
    "draw_person",
    "pixel_extent",
]

# COCO-80 ids of the drawable object categories.
BICYCLE, SPORTS_BALL, KITE, CUP, BOOK = 1, 32, 33, 41, 73

# Visual cues (module docstring).
ARM, ARM_REACH, ARM_LOWER, ARM_RAISE = "arm", "arm_reach", "arm_lower", "arm_raise"
HAND, GAZE, LEG_OUT, SEATED, LAUNCH = "hand", "gaze", "leg_out", "seated", "launch"
CUES: Tuple[str, ...] = (ARM, ARM_REACH, ARM_LOWER, ARM_RAISE, HAND, GAZE, LEG_OUT, SEATED, LAUNCH)
_ARM_POSES = (ARM_REACH, ARM_LOWER, ARM_RAISE)

#: The COCO-17 person keypoints, in COCO order (left = the person's left).
COCO_KEYPOINT_NAMES: Tuple[str, ...] = tuple(COCO_PERSON_KEYPOINT_NAMES)
_K = {name: i for i, name in enumerate(COCO_KEYPOINT_NAMES)}

# RGB colours.
_SKIN = (232, 182, 140)
LIMB_COLOUR = (60, 40, 40)
_PEDESTAL = (70, 70, 70)
_TORSO = (40, 80, 200)
_GAZE = (250, 215, 40)
_DARK = (25, 25, 25)
_STREAK = (255, 255, 255)
_LIMB_WIDTH, _CUE_LIMB_WIDTH = 2, 4  # limbs at rest / limbs showing a cue


def _jitter(rng: np.random.Generator, colour: Sequence[int], amount: int = 12) -> Tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def _check_cues(cues: Collection[str]) -> None:
    unknown = set(cues) - set(CUES)
    if unknown:
        raise ValueError(f"unknown visual cue(s) {sorted(unknown)}; known: {list(CUES)}")
    if sum(c in cues for c in _ARM_POSES) != (ARM in cues) or (LEG_OUT in cues and SEATED in cues):
        raise ValueError(
            f"cues {sorted(cues)}: {ARM!r} needs exactly one of {list(_ARM_POSES)}, and a limb "
            "has one pose"
        )
    if HAND in cues and not (ARM_REACH in cues or ARM_LOWER in cues):
        raise ValueError(f"cue {HAND!r} needs {ARM_REACH!r} or {ARM_LOWER!r}, got {sorted(cues)}")


def draw_object(rng: np.random.Generator, category: int, w: int, h: int) -> np.ndarray:
    """A ``(h, w, 3)`` canvas with the object's shape (distinct shape and colour per category)."""
    canvas = np.zeros((h, w, 3), np.uint8)
    if category == SPORTS_BALL:
        cv2.ellipse(
            canvas, (w // 2, h // 2), (w // 2, h // 2), 0, 0, 360, _jitter(rng, (240, 140, 30)), -1
        )
        cv2.ellipse(canvas, (w // 2, h // 2), (w // 4, h // 2), 0, 0, 360, _DARK, 1)
    elif category == CUP:
        colour = _jitter(rng, (20, 150, 150))
        body = np.array([[0, 0], [w - 1, 0], [w - 3, h - 1], [2, h - 1]], np.int32)
        cv2.fillPoly(canvas, [body], colour)
        cv2.line(canvas, (0, 1), (w - 1, 1), _DARK, 2)
    elif category == BICYCLE:
        radius = max(4, min(h // 2 - 1, w // 4))
        left, right = (radius, h - 1 - radius), (w - 1 - radius, h - 1 - radius)
        frame = _jitter(rng, (40, 160, 60))
        top = (w // 2, 1)
        for a, b in ((left, top), (right, top), (left, (w // 2, h - 1 - radius)), (right, top)):
            cv2.line(canvas, a, b, frame, 2)
        cv2.line(canvas, (w // 2 - 4, 1), (w // 2 + 4, 1), frame, 2)
        cv2.line(canvas, left, (w // 2, h - 1 - radius), frame, 2)
        cv2.line(canvas, (w // 2, h - 1 - radius), right, frame, 2)
        cv2.circle(canvas, left, radius, _DARK, 2)
        cv2.circle(canvas, right, radius, _DARK, 2)
        cv2.line(canvas, (0, h - 1 - radius), (w - 1, h - 1 - radius), frame, 1)
    elif category == KITE:
        colour = _jitter(rng, (210, 40, 50))
        diamond = np.array([[w // 2, 0], [w - 1, h // 3], [w // 2, h - 1], [0, h // 3]], np.int32)
        cv2.fillPoly(canvas, [diamond], colour)
        cv2.line(canvas, (w // 2, 0), (w // 2, h - 1), _DARK, 1)
        cv2.line(canvas, (0, h // 3), (w - 1, h // 3), _DARK, 1)
    elif category == BOOK:
        canvas[:, :] = _jitter(rng, (120, 50, 160))
        canvas[2:-2, w - 4 : w - 2] = (245, 245, 235)
    else:
        raise ValueError(f"no drawing for category {category}")
    return canvas


def draw_object_cues(canvas: np.ndarray, cues: Collection[str], side: int) -> None:
    """Marks of the interaction on the object's canvas, in place and inside the extent of what
    is already drawn there (the object's shape, so its box does not change): a hand gripping the
    edge facing the person (``HAND`` + ``ARM_REACH``) or under the object (``HAND`` +
    ``ARM_LOWER``), a gaze spot (``GAZE``), a foot mark on the near lower corner (``LEG_OUT``),
    motion streaks on the far side (``LAUNCH``). ``side`` = +1 when the person stands left of the
    object."""
    _check_cues(cues)
    x1, y1, x2, y2 = pixel_extent(canvas.any(axis=2))
    view = canvas[y1 : y2 + 1, x1 : x2 + 1]  # cv2 draws into the view and clips to it
    h, w = view.shape[:2]
    near = 1 if side > 0 else w - 2  # the edge facing the person
    inward = 1 if side > 0 else -1
    far = w - 1 - near
    if LAUNCH in cues:
        length = max(4, w // 3)
        for dy in (-4, 0, 4):
            y = min(max(h // 2 + dy, 1), h - 2)
            cv2.line(view, (far, y), (far - inward * length, y), _STREAK, 2)
    if GAZE in cues:
        cv2.circle(view, (w // 2, min(3, h // 2)), 2, _GAZE, -1)
    if LEG_OUT in cues:
        cv2.rectangle(view, (near - inward, h - 5), (near + 3 * inward, h - 1), _DARK, -1)
    if HAND in cues:
        centre = (near, h // 2) if ARM_REACH in cues else (w // 2, h - 2)
        cv2.circle(view, centre, 3, _SKIN, -1)


def _limb(canvas, keypoints, joints: Sequence[str], points, cue: bool) -> None:
    """Draw a two-segment limb through ``points`` (thick when it shows a cue) and record the
    points as the keypoints ``joints``."""
    for name, point in zip(joints, points):
        keypoints[_K[name]] = point
    for a, b in zip(points[:-1], points[1:]):
        cv2.line(canvas, a, b, LIMB_COLOUR, _CUE_LIMB_WIDTH if cue else _LIMB_WIDTH)


def _midpoint(a: Tuple[int, int], b: Tuple[int, int]) -> Tuple[int, int]:
    return ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)


def draw_person(
    rng: np.random.Generator, w: int, h: int, cues: Collection[str], side: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A person in a ``w x h`` box showing ``cues`` towards the side ``side``.

    The arm and leg on the object's side show the limb cues; the others hang / stand straight.

    Returns:
        ``(canvas, body_mask, keypoints)``: the drawing, the mask of its pose-independent part
        (head, torso, pedestal) whose extent is the person's box, and the ``(17, 2)`` integer
        pixel positions ``(x, y)`` of the COCO keypoints on the canvas (all visible).
    """
    _check_cues(cues)
    canvas = np.zeros((h, w, 3), np.uint8)
    keypoints = np.zeros((len(COCO_KEYPOINT_NAMES), 2), np.int64)
    cx, r = w // 2, max(3, int(round(w * 0.2)))
    neck, hip = 2 * r + 1, int(round(h * 0.6))
    half = max(2, int(round(w * 0.16)))
    edge = w - 1 if side > 0 else 0  # the box edge facing the object
    # Pose-independent body: head, torso, pedestal.
    cv2.circle(canvas, (cx, r), r, _jitter(rng, _SKIN, 6), -1)
    cv2.rectangle(canvas, (cx - half, neck), (cx + half, hip), _jitter(rng, _TORSO), -1)
    canvas[h - 3 :, :] = _PEDESTAL
    body = canvas.any(axis=2)
    # Head keypoints (the person faces the viewer: their left is +x).
    eye_dx, ear_dx = max(1, r // 2), r - 1
    keypoints[_K["nose"]] = (cx, r + 1)
    for name, sign in (("left", 1), ("right", -1)):
        keypoints[_K[f"{name}_eye"]] = (cx + sign * eye_dx, r - 1)
        keypoints[_K[f"{name}_ear"]] = (cx + sign * ear_dx, r)
    if GAZE in cues:
        eye = tuple(int(v) for v in keypoints[_K["left_eye" if side > 0 else "right_eye"]])
        cone = np.array([eye, (edge, max(0, r - 5)), (edge, r + 5)], np.int32)
        cv2.fillPoly(canvas, [cone], _GAZE)
        cv2.circle(canvas, eye, 1, _DARK, -1)
    # Arms (drawn over the gaze cone, so wrists stay on the limb strokes).
    shoulder_y = neck + 2
    for limb_side in (-1, 1):
        name = "left" if limb_side > 0 else "right"
        shoulder = (cx + limb_side * half, shoulder_y)
        wrist = (cx + limb_side * (half + 2), hip)  # at rest: down along the torso
        pose = next((c for c in _ARM_POSES if c in cues), None) if limb_side == side else None
        if pose is not None:
            wrist = (edge, {ARM_REACH: shoulder_y, ARM_LOWER: hip, ARM_RAISE: 1}[pose])
        joints = (f"{name}_shoulder", f"{name}_elbow", f"{name}_wrist")
        _limb(canvas, keypoints, joints, (shoulder, _midpoint(shoulder, wrist), wrist), bool(pose))
    # Legs (ankles on the row above the pedestal).
    foot_y = h - 4
    for limb_side in (-1, 1):
        name = "left" if limb_side > 0 else "right"
        hip_point = (cx + limb_side * (half // 2), hip)
        ankle = (hip_point[0] + limb_side, foot_y)  # at rest: straight down
        knee = _midpoint(hip_point, ankle)
        cue = SEATED in cues or (LEG_OUT in cues and limb_side == side)
        if SEATED in cues:
            knee = (min(max(cx + limb_side * (half + 4), 1), w - 2), hip + 3)
            ankle = (knee[0], foot_y)
        elif cue:
            ankle = (edge, (hip + foot_y) // 2)
            knee = _midpoint(hip_point, ankle)
        joints = (f"{name}_hip", f"{name}_knee", f"{name}_ankle")
        _limb(canvas, keypoints, joints, (hip_point, knee, ankle), cue)
    canvas[h - 3 :, :] = _PEDESTAL  # limb strokes never cover the pedestal
    return canvas, body, keypoints


def pixel_extent(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """Inclusive 0-based pixel extent ``(x1, y1, x2, y2)`` of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
