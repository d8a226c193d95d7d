"""Drawing of the synthetic HOI dataset's entities (:mod:`rmlr.data.synthetic`).

Each entity is drawn on its own canvas the size of its box (``(h, w, 3)`` uint8, zero = empty), so
no stroke can leave the box (cv2 clips to the canvas). A person's box is measured on the
pose-independent part of the drawing (head at the top, torso, a pedestal across the full width at
the bottom), an object's on its shape before the interaction marks: boxes never depend on verbs,
while the verbs change pixels inside the boxes.

``side`` is where the partner is: +1 when the object is right of the person, -1 when left.
"""

from typing import Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    "BICYCLE",
    "SPORTS_BALL",
    "KITE",
    "CUP",
    "BOOK",
    "draw_object",
    "draw_object_cues",
    "draw_person",
    "pixel_extent",
]

# COCO-80 ids of the drawable object categories.
BICYCLE, SPORTS_BALL, KITE, CUP, BOOK = 1, 32, 33, 41, 73

# RGB colours.
_SKIN = (232, 182, 140)
_LIMB = (60, 40, 40)
_PEDESTAL = (70, 70, 70)
_TORSO = (40, 80, 200)
_GAZE = (250, 215, 40)
_DARK = (25, 25, 25)


def _jitter(rng: np.random.Generator, colour: Sequence[int], amount: int = 12) -> Tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


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


def draw_object_cues(canvas: np.ndarray, verbs: Sequence[str], side: int) -> None:
    """Marks of the interaction on the object's canvas, in place: a hand (``hold``: middle,
    ``carry``: low) or a foot mark (``kick``) on the edge facing the person, motion streaks on the
    far edge (``throw``). ``side`` = +1 when the person stands left of the object."""
    h, w = canvas.shape[:2]
    near = 1 if side > 0 else w - 2  # the object's edge facing the person
    far = w - 3 if side > 0 else 2
    if "hold" in verbs:
        cv2.circle(canvas, (near, h // 2), 2, _SKIN, -1)
    if "carry" in verbs:
        cv2.circle(canvas, (near, (3 * h) // 4), 2, _SKIN, -1)
    if "kick" in verbs:
        cv2.rectangle(canvas, (near - 1, h - 4), (near + 1, h - 1), _DARK, -1)
    if "throw" in verbs:
        for dy in (-3, 0, 3):
            cv2.line(canvas, (far, h // 2 + dy), (far - 3 * side, h // 2 + dy), (255, 255, 255), 1)


def draw_person(
    rng: np.random.Generator, w: int, h: int, verbs: Sequence[str], side: int
) -> Tuple[np.ndarray, np.ndarray]:
    """A person in a ``w x h`` box showing ``verbs`` towards the side ``side``.

    Arm towards the object: ``hold`` horizontal, ``carry`` lowered, ``throw`` raised (else down
    along the torso); legs: ``kick`` stretched towards the object, ``ride`` bent (seated), else
    straight; ``look_at``: a yellow gaze cone from the head to the box edge.

    Returns:
        ``(canvas, body_mask)``: the drawing and the mask of its pose-independent part (head,
        torso, pedestal), whose extent is the person's box.
    """
    canvas = np.zeros((h, w, 3), np.uint8)
    cx, r = w // 2, max(3, int(round(w * 0.2)))
    neck, hip = 2 * r + 1, int(round(h * 0.6))
    half = max(2, int(round(w * 0.16)))
    edge = w - 1 if side > 0 else 0  # the box edge facing the object
    # Pose-independent body: head, torso, pedestal.
    cv2.circle(canvas, (cx, r), r, _jitter(rng, _SKIN, 6), -1)
    cv2.rectangle(canvas, (cx - half, neck), (cx + half, hip), _jitter(rng, _TORSO), -1)
    canvas[h - 3 :, :] = _PEDESTAL
    body = canvas.any(axis=2)
    # Arms: the one facing the object shows the arm verb.
    shoulder_y = neck + 2
    for arm_side in (-1, 1):
        shoulder = (cx + arm_side * half, shoulder_y)
        hand = (cx + arm_side * (half + 2), hip)
        if arm_side == side:
            if "hold" in verbs:
                hand = (edge, shoulder_y)
            elif "carry" in verbs:
                hand = (edge, hip)
            elif "throw" in verbs:
                hand = (edge, 1)
        cv2.line(canvas, shoulder, hand, _LIMB, 2)
        if hand[0] in (0, w - 1):
            cv2.circle(canvas, hand, 2, _SKIN, -1)
    # Legs.
    foot_y = h - 4
    for leg_side in (-1, 1):
        hip_point = (cx + leg_side * (half // 2), hip)
        if "ride" in verbs:
            knee = (cx + leg_side * (half + 4), hip + 3)
            cv2.line(canvas, hip_point, knee, _LIMB, 2)
            cv2.line(canvas, knee, (knee[0], foot_y), _LIMB, 2)
        elif "kick" in verbs and leg_side == side:
            cv2.line(canvas, hip_point, (edge, foot_y - 6), _LIMB, 2)
        else:
            cv2.line(canvas, hip_point, (hip_point[0] + leg_side, foot_y), _LIMB, 2)
    if "look_at" in verbs:
        eye = (cx + side * (r // 2), r)
        cone = np.array([eye, (edge, max(0, r - 3)), (edge, r + 3)], np.int32)
        cv2.fillPoly(canvas, [cone], _GAZE)
        cv2.circle(canvas, eye, 1, _DARK, -1)
    return canvas, body


def pixel_extent(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """Inclusive 0-based pixel extent ``(x1, y1, x2, y2)`` of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
