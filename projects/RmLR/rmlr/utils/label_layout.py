"""Where the labels of an HOI picture go, so that no two of them overlap.

Pure geometry (no drawing): rectangles in display pixels of the drawn canvas, ``x`` to the right
and ``y`` down. :class:`~rmlr.utils.visualizer.HOIVisualizer` measures its label texts, asks for
a layout, then draws exactly the rectangles returned, so a test can check the layout without
reading pixels.

Two modes (``plan_labels``):

* **inline**: one block per pair (one row per verb, the best first) where it cannot be read as
  another pair's: next to a box of the pair that no other drawn pair uses (above, below or inside
  its top-left corner; object box first), slid by at most a row, or centred on the pair's line.
  Of the places inside the canvas that overlap no label placed before, the one covering the
  least of the other pairs' boxes wins. A block that finds no place (boxes shared by several
  pairs, too many pairs, a label wider than a small image) makes the whole picture use:
* **panel**: a number badge on each pair's line (placed along the line, then spiralling out from
  it, never on another badge) and the triplets listed in a side panel to the right of the image,
  row by row, keyed by the pair's number (more columns when the rows outgrow the height).
"""

import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

__all__ = ["Rect", "PairGeometry", "LabelPlan", "plan_labels", "place_badges", "overlapping"]

# gap kept between labels of different pairs (display pixels)
_GAP = 2.0
# pairs beyond which the auto mode lists the triplets in a panel even if inline labels would fit
MAX_INLINE_PAIRS = 4


@dataclass(frozen=True)
class Rect:
    """Axis-aligned rectangle ``[x0, x1) x [y0, y1)``."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def shifted(self, dx: float, dy: float) -> "Rect":
        return Rect(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy)

    def grown(self, margin: float) -> "Rect":
        return Rect(self.x0 - margin, self.y0 - margin, self.x1 + margin, self.y1 + margin)

    def intersection_area(self, other: "Rect") -> float:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(w, 0.0) * max(h, 0.0)

    def overlaps(self, other: "Rect") -> bool:
        return self.intersection_area(other) > 0.0

    def inside(self, width: float, height: float) -> bool:
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 <= width and self.y1 <= height

    @staticmethod
    def at(x: float, y: float, width: float, height: float) -> "Rect":
        return Rect(x, y, x + width, y + height)


@dataclass(frozen=True)
class PairGeometry:
    """One drawn pair: its boxes in display pixels (``object_box`` None for an agent-only GT),
    whether another drawn pair uses the same human / object box, and the (width, height) of each
    label row, best row first, as an inline label (``row_sizes``) and as a panel row that starts
    with the pair's number (``panel_row_sizes``)."""

    human_box: Rect
    object_box: Optional[Rect]
    row_sizes: Sequence[Tuple[float, float]]
    panel_row_sizes: Sequence[Tuple[float, float]]
    human_shared: bool = False
    object_shared: bool = False

    @property
    def line(self) -> Tuple[Tuple[float, float], Tuple[float, float]]:
        """Centre of the human box -> centre of the object box (the human box twice without one)."""
        h = self.human_box
        o = self.object_box or h
        return ((h.x0 + h.x1) / 2, (h.y0 + h.y1) / 2), ((o.x0 + o.x1) / 2, (o.y0 + o.y1) / 2)


@dataclass
class LabelPlan:
    """The result: ``mode`` ("inline" or "panel"); ``rows[p]`` the rectangle of each label row of
    pair p; ``badges[p]`` its number badge (panel mode); ``panel_width`` the width added to the
    right of the image (0 inline)."""

    mode: str
    rows: List[List[Rect]]
    badges: List[Rect]
    panel_width: float

    def rectangles(self) -> List[Rect]:
        """Every label rectangle of the picture (rows and badges)."""
        return [r for rows in self.rows for r in rows] + list(self.badges)


def overlapping(rects: Sequence[Rect]) -> List[Tuple[int, int]]:
    """Index pairs of rectangles that overlap (empty for a valid layout)."""
    return [
        (i, j)
        for i in range(len(rects))
        for j in range(i + 1, len(rects))
        if rects[i].overlaps(rects[j])
    ]


def _stack(x: float, y: float, sizes: Sequence[Tuple[float, float]]) -> List[Rect]:
    rows = []
    for w, h in sizes:
        rows.append(Rect.at(x, y, w, h))
        y += h
    return rows


def _block_size(sizes: Sequence[Tuple[float, float]]) -> Tuple[float, float]:
    return max(w for w, _ in sizes), sum(h for _, h in sizes)


def _inline_candidates(pair: PairGeometry, bw: float, bh: float):
    """(top-left corner, vertical row steps allowed) next to the pair's own unshared boxes, then
    on its line, in order of preference."""
    (hx, hy), (ox, oy) = pair.line
    places = []
    for box, shared in ((pair.object_box, pair.object_shared), (pair.human_box, pair.human_shared)):
        if box is None or shared:
            continue
        places += [((box.x0, box.y0 - bh), (0, -1)), ((box.x0, box.y1), (0, 1))]
        places.append(((box.x0, box.y0), (0, 1)))
    places.append((((hx + ox) / 2 - bw / 2, (hy + oy) / 2 - bh / 2), (0,)))
    return places


def _clamp(x: float, y: float, bw: float, bh: float, width: float, height: float):
    return min(max(x, 0.0), width - bw), min(max(y, 0.0), height - bh)


def _place_inline(
    pairs: Sequence[PairGeometry], width: float, height: float
) -> Optional[List[List[Rect]]]:
    placed: List[Rect] = []
    out = []
    for p, pair in enumerate(pairs):
        bw, bh = _block_size(pair.row_sizes)
        if bw > width or bh > height:
            return None
        row_h = pair.row_sizes[0][1]
        others = [q.human_box for k, q in enumerate(pairs) if k != p]
        others += [q.object_box for k, q in enumerate(pairs) if k != p and q.object_box]
        best, best_cost = None, math.inf
        for rank, ((cx, cy), steps) in enumerate(_inline_candidates(pair, bw, bh)):
            x, y = _clamp(cx, cy, bw, bh, width, height)
            for step in steps:
                block = Rect.at(x, y + step * row_h, bw, bh)
                if not block.inside(width, height):
                    continue
                if any(block.overlaps(r.grown(_GAP)) for r in placed):
                    continue
                covered = sum(block.intersection_area(b) for b in others)
                cost = covered + (rank + abs(step)) * 0.05 * bw * bh
                if cost < best_cost:
                    best, best_cost = block, cost
        if best is None:
            return None
        placed.append(best)
        out.append(_stack(best.x0, best.y0, pair.row_sizes))
    return out


def _line_points(pair: PairGeometry) -> Iterable[Tuple[float, float]]:
    (hx, hy), (ox, oy) = pair.line
    for t in (0.5, 0.35, 0.65, 0.2, 0.8, 0.05, 0.95):
        yield hx + t * (ox - hx), hy + t * (oy - hy)


def _spiral(cx: float, cy: float, step: float, limit: float) -> Iterable[Tuple[float, float]]:
    """Points on squares of growing radius around (cx, cy)."""
    for ring in range(1, int(limit / step) + 2):
        r = ring * step
        n = 8 * ring
        for k in range(n):
            a = 2 * math.pi * k / n
            yield cx + r * math.cos(a), cy + r * math.sin(a)


def place_badges(
    pairs: Sequence[PairGeometry], size: Tuple[float, float], width: float, height: float
) -> List[Rect]:
    """One ``size`` badge per pair on its line (near the middle first), else spiralling out from
    the middle; no two badges overlap while the canvas has room."""
    bw, bh = size
    placed: List[Rect] = []
    for pair in pairs:
        (hx, hy), (ox, oy) = pair.line
        mx, my = (hx + ox) / 2, (hy + oy) / 2
        points = list(_line_points(pair))
        found = None
        for px, py in points + list(_spiral(mx, my, max(bw, bh), max(width, height))):
            x, y = _clamp(px - bw / 2, py - bh / 2, bw, bh, width, height)
            rect = Rect.at(x, y, bw, bh)
            if not any(rect.overlaps(r.grown(_GAP)) for r in placed):
                found = rect
                break
        if found is None:  # more badges than the image can hold: keep them apart anyway
            found = Rect.at(0.0, (placed[-1].y1 + _GAP) if placed else 0.0, bw, bh)
        placed.append(found)
    return placed


def _panel_rows(
    pairs: Sequence[PairGeometry], x0: float, height: float, pad: float
) -> Tuple[List[List[Rect]], float]:
    """Rows listed top to bottom from ``x0 + pad``, a new column when one is full."""
    rows_out: List[List[Rect]] = []
    col_x, col_w, y = x0 + pad, 0.0, pad
    for pair in pairs:
        rects = []
        for w, h in pair.panel_row_sizes:
            if y + h > height - pad and y > pad:  # column full: start the next one
                col_x, col_w, y = col_x + col_w + pad, 0.0, pad
            rects.append(Rect.at(col_x, y, w, h))
            col_w = max(col_w, w)
            y += h + 1.0
        rows_out.append(rects)
    right = max((r.x1 for rects in rows_out for r in rects), default=x0)
    return rows_out, right + pad - x0


def plan_labels(
    pairs: Sequence[PairGeometry],
    *,
    width: float,
    height: float,
    badge_size: Tuple[float, float],
    mode: str = "auto",
    pad: float = 4.0,
) -> LabelPlan:
    """Lay out the labels of ``pairs`` (in priority order) on a ``width`` x ``height`` canvas.

    Args:
        mode: "inline", "panel" or "auto" (inline when every block finds a place and there are at
            most ``MAX_INLINE_PAIRS`` pairs, else panel). "inline" falls back to the panel when a
            block finds no place.
        badge_size: (width, height) of a number badge (panel mode).
    """
    if mode not in ("auto", "inline", "panel"):
        raise ValueError(f"label mode must be 'auto', 'inline' or 'panel', got {mode!r}")
    if mode != "panel" and (mode == "inline" or len(pairs) <= MAX_INLINE_PAIRS):
        rows = _place_inline(pairs, width, height)
        if rows is not None:
            return LabelPlan("inline", rows, [], 0.0)
    badges = place_badges(pairs, badge_size, width, height)
    rows, panel_width = _panel_rows(pairs, width, height, pad)
    return LabelPlan("panel", rows, badges, panel_width)
