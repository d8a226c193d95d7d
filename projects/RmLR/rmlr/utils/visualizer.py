"""Draw human-object interactions on Detectron2's ``Visualizer`` canvas, readable at a glance.

* Every distinct entity box is drawn once: humans solid, objects dashed; a line joins the centres
  of each drawn pair. Boxes and lines have a dark outline, so they show on light and dark images.
* Colours are fixed per verb (:func:`verb_color`: the verb id picks a hue), the same in every run
  and in every tool; a pair and its boxes take the colour of its best verb.
* Labels (``"verb object score"``, one row per verb) never overlap: :mod:`.label_layout` places
  one block per pair next to its boxes, or, for busy pictures, puts a number badge on each pair's
  line and lists the triplets in a panel to the right of the image. Label text is black or white,
  whichever contrasts more with the label's colour (contrast ratio >= 4.5, WCAG AA).
* Sizes follow the drawn canvas: ``scale`` enlarges small images (``--scale`` of the tools) and
  label text is at least 12 pixels high.

After drawing, ``label_plan`` holds the label rectangles (display pixels of the returned image).
"""

import colorsys
import math
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.structures import Instances
from detectron2.utils.visualizer import VisImage, Visualizer
from matplotlib import patheffects
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle as _Patch

from .label_layout import LabelPlan, PairGeometry, Rect, plan_labels

__all__ = [
    "HOIVisualizer",
    "contrast_ratio",
    "draw_outlined_box",
    "outline",
    "instances_from_record",
    "select_hoi_rows",
    "text_color",
    "verb_color",
]

_PANEL_BACKGROUND = (248, 248, 248)


def verb_color(verb: int) -> Tuple[float, float, float]:
    """RGB in [0, 1] of a verb id: golden-ratio hue steps, so neighbouring ids differ most."""
    hue = (0.08 + 0.618033988749895 * int(verb)) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.75, 0.95)


def _luminance(rgb: Sequence[float]) -> float:
    """WCAG relative luminance of an sRGB colour in [0, 1]."""
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG contrast ratio of two sRGB colours in [0, 1] (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(background: Sequence[float]) -> Tuple[float, float, float]:
    """Black or white, whichever contrasts more with ``background`` (always >= 4.5)."""
    black, white = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return (
        black if contrast_ratio(background, black) >= contrast_ratio(background, white) else white
    )


def outline(width: float) -> list:
    """Matplotlib path effects: a black stroke under a line of ``width`` points, so that it shows
    on light and dark images alike."""
    return [patheffects.withStroke(linewidth=width + 1.5, foreground="black"), patheffects.Normal()]


def draw_outlined_box(ax, box, color, width: float, *, dashed: bool = False) -> None:
    """An outlined xyxy box (data coordinates) on ``ax``; dashed for objects."""
    x0, y0, x1, y1 = box
    ax.add_patch(
        _Patch(
            (x0, y0),
            x1 - x0,
            y1 - y0,
            fill=False,
            edgecolor=color,
            linewidth=width,
            linestyle=(0, (4, 2)) if dashed else "-",
            path_effects=outline(width),
        )
    )


def _readable(name: str) -> str:
    return name.replace("_", " ")


def select_hoi_rows(
    instances: Instances,
    *,
    score_thresh: float = 0.0,
    top_k: Optional[int] = None,
    verb: Optional[int] = None,
) -> np.ndarray:
    """Indices of the rows of ``hoi_instances`` to show: score >= ``score_thresh``, only ``verb``
    if given, the ``top_k`` best (all if None; must be >= 1), highest score first."""
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive number of rows, got {top_k}")
    scores = instances.scores.detach().cpu().numpy()
    keep = scores >= score_thresh
    if verb is not None:
        keep &= instances.pred_verb_classes.detach().cpu().numpy() == verb
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx if top_k is None else idx[:top_k]


class _Pair:
    """One drawn pair: boxes (image pixels) and its label rows ``(verb, text)``, best first."""

    def __init__(self, human: np.ndarray, obj: Optional[np.ndarray]):
        self.human, self.obj = human, obj
        self.rows: List[Tuple[int, str]] = []
        # entity identities (a box drawn once however many pairs use it)
        self.human_key = ("h",) + tuple(np.round(human, 2))
        self.object_key = None if obj is None else ("o",) + tuple(np.round(obj, 2))

    @property
    def color(self) -> Tuple[float, float, float]:
        return verb_color(self.rows[0][0])


class HOIVisualizer(Visualizer):
    """``Visualizer`` with :meth:`draw_hoi_predictions` and :meth:`draw_hoi_ground_truth`.

    Args:
        img_rgb: (H, W, 3) RGB image.
        metadata: the dataset's metadata (``thing_classes`` and ``verb_classes``).
        scale: draw on a canvas this many times larger than the image.
        label_mode: "auto", "inline" or "panel" (see :mod:`.label_layout`).
    """

    def __init__(self, img_rgb, metadata=None, scale: float = 1.0, *, label_mode: str = "auto"):
        super().__init__(img_rgb, metadata, scale=scale)
        self.label_mode = label_mode
        self.label_plan: Optional[LabelPlan] = None
        h, w = self.img.shape[:2]
        self.font_px = max(12.0, round(math.sqrt(h * w) * scale / 45.0))
        self._font = FontProperties(family="sans-serif", size=self.font_px * 72.0 / self.output.dpi)

    _keypoint_radius: Optional[float] = None

    def draw_and_connect_keypoints(self, keypoints):
        """Detectron2's, with dots sized to the image (0.5 % of its longer side, at least half a
        pixel) instead of 3 pixels, which cover a whole person in a small image."""
        longer = max(self.output.height, self.output.width)
        self._keypoint_radius = max(0.5, 0.005 * longer)
        try:
            return super().draw_and_connect_keypoints(keypoints)
        finally:
            self._keypoint_radius = None

    def draw_circle(self, circle_coord, color, radius=3):
        return super().draw_circle(circle_coord, color, self._keypoint_radius or radius)

    # ---- public drawing API --------------------------------------------------------------
    def draw_hoi_predictions(
        self,
        instances: Instances,
        *,
        score_thresh: float = 0.0,
        top_k: Optional[int] = 10,
        verb: Optional[int] = None,
    ) -> VisImage:
        """Draw the model's ``hoi_instances`` (fields ``pred_subject_boxes``,
        ``pred_object_boxes``, ``pred_object_classes``, ``pred_verb_classes``, ``scores``)."""
        idx = select_hoi_rows(instances, score_thresh=score_thresh, top_k=top_k, verb=verb)
        h = instances.pred_subject_boxes.tensor.detach().cpu().numpy()
        o = instances.pred_object_boxes.tensor.detach().cpu().numpy()
        objs = instances.pred_object_classes.detach().cpu().numpy()
        verbs = instances.pred_verb_classes.detach().cpu().numpy()
        scores = instances.scores.detach().cpu().numpy()
        rows = []
        for i in idx:
            has_object = bool(np.isfinite(o[i]).all())  # NaN: a V-COCO role without object
            text = self._label(verbs[i], objs[i] if has_object else None) + f" {scores[i]:.2f}"
            rows.append((h[i], o[i] if has_object else None, int(verbs[i]), text))
        return self._draw_triplets(rows)

    def draw_hoi_ground_truth(self, dataset_dict: dict) -> VisImage:
        """Draw a dataset dict's ``interactions`` (and V-COCO's ``agent_only``), boxes as stored,
        and the ``keypoints`` of annotations that have them (connected by the metadata's
        ``keypoint_connection_rules``)."""
        anns = dataset_dict["annotations"]
        for a in anns:
            if "keypoints" in a:
                self.draw_and_connect_keypoints(np.asarray(a["keypoints"]).reshape(-1, 3))
        rows = []
        for s, o, v in dataset_dict.get("interactions", []):
            rows.append(
                (
                    np.asarray(anns[s]["bbox"], dtype=float),
                    np.asarray(anns[o]["bbox"], dtype=float),
                    int(v),
                    self._label(v, anns[o]["category_id"]),
                )
            )
        for s, v in dataset_dict.get("agent_only", []):
            rows.append((np.asarray(anns[s]["bbox"], dtype=float), None, int(v), self._label(v)))
        return self._draw_triplets(rows)

    # ---- grouping and layout -------------------------------------------------------------
    def _label(self, verb: int, obj: Optional[int] = None) -> str:
        verbs: List[str] = self.metadata.get("verb_classes", None) or []
        objects: List[str] = self.metadata.get("thing_classes", None) or []
        v = _readable(verbs[verb]) if 0 <= verb < len(verbs) else f"verb{verb}"
        if obj is None:
            return v
        o = _readable(objects[obj]) if 0 <= obj < len(objects) else f"object{obj}"
        return f"{v} {o}"

    @staticmethod
    def _group(rows) -> List[_Pair]:
        """Rows ``(human box, object box or None, verb, text)`` -> pairs in order of first
        appearance (rows come best first), one label row per verb."""
        pairs: Dict[tuple, _Pair] = {}
        for h, o, verb, text in rows:
            key = (tuple(np.round(h, 2)), None if o is None else tuple(np.round(o, 2)))
            if key not in pairs:
                pairs[key] = _Pair(
                    np.asarray(h, float), None if o is None else np.asarray(o, float)
                )
            pairs[key].rows.append((verb, text))
        return list(pairs.values())

    def _text_size(self, text: str) -> Tuple[float, float]:
        renderer = self.output.canvas.get_renderer()
        width, _, _ = renderer.get_text_width_height_descent(text, self._font, ismath=False)
        return width + 0.7 * self.font_px, round(1.45 * self.font_px)

    def _rect(self, box: np.ndarray) -> Rect:
        s = self.output.scale
        return Rect(*(float(v) * s for v in box))

    def _plan(self, pairs: Sequence[_Pair]) -> LabelPlan:
        uses = Counter(k for p in pairs for k in (p.human_key, p.object_key) if k is not None)
        geometry = [
            PairGeometry(
                human_box=self._rect(p.human),
                object_box=None if p.obj is None else self._rect(p.obj),
                row_sizes=[self._text_size(t) for _, t in p.rows],
                panel_row_sizes=[self._text_size(f"{n + 1}  {t}") for _, t in p.rows],
                human_shared=uses[p.human_key] > 1,
                object_shared=p.object_key is not None and uses[p.object_key] > 1,
            )
            for n, p in enumerate(pairs)
        ]
        return plan_labels(
            geometry,
            width=self.output.width * self.output.scale,
            height=self.output.height * self.output.scale,
            badge_size=self._text_size(str(len(pairs))),
            mode=self.label_mode,
        )

    def _add_panel(self, width_px: float) -> None:
        """Extend the canvas to the right by ``width_px`` display pixels of panel background."""
        extra = int(math.ceil(width_px / self.output.scale))
        h = self.img.shape[0]
        panel = np.empty((h, extra, 3), dtype=np.uint8)
        panel[:] = _PANEL_BACKGROUND
        self.img = np.concatenate([self.img, panel], axis=1)
        self.output = VisImage(self.img, scale=self.output.scale)

    # ---- drawing -------------------------------------------------------------------------
    def _line_width(self) -> float:
        """Box and line width in points (at least 2 display pixels)."""
        return max(2.0, self.font_px / 6.0) * 72.0 / self.output.dpi

    def _draw_pair_line(self, pair: _Pair) -> None:
        lw = self._line_width()
        h, o = pair.human, pair.obj if pair.obj is not None else pair.human
        xs = [(h[0] + h[2]) / 2, (o[0] + o[2]) / 2]
        ys = [(h[1] + h[3]) / 2, (o[1] + o[3]) / 2]
        self.output.ax.plot(
            xs, ys, color=pair.color, linewidth=lw, path_effects=outline(lw), zorder=2
        )

    def _draw_label(self, rect: Rect, text: str, color, *, border: bool = False) -> None:
        s = self.output.scale
        self.output.ax.add_patch(
            _Patch(
                (rect.x0 / s, rect.y0 / s),
                rect.width / s,
                rect.height / s,
                facecolor=color,
                edgecolor="black" if border else "none",
                linewidth=0.8 if border else 0.0,
                zorder=3,
            )
        )
        self.output.ax.text(
            (rect.x0 + 0.35 * self.font_px) / s,
            (rect.y0 + rect.y1) / 2 / s,
            text,
            fontproperties=self._font,
            color=text_color(color),
            ha="left",
            va="center_baseline",
            zorder=4,
        )

    def _draw_triplets(self, rows) -> VisImage:
        pairs = self._group(rows)
        plan = self._plan(pairs)
        if plan.mode == "panel":
            self._add_panel(plan.panel_width)
        self.label_plan = plan
        boxes: Dict[tuple, Tuple[np.ndarray, tuple, bool]] = {}
        for p in pairs:  # each entity box once, in the colour of the best pair using it
            boxes.setdefault(p.human_key, (p.human, p.color, False))
            if p.obj is not None:
                boxes.setdefault(p.object_key, (p.obj, p.color, True))
        for box, color, dashed in boxes.values():
            draw_outlined_box(self.output.ax, box, color, self._line_width(), dashed=dashed)
        for p in pairs:
            self._draw_pair_line(p)
        for n, (p, rects) in enumerate(zip(pairs, plan.rows)):
            for (verb, text), rect in zip(p.rows, rects):
                shown = text if plan.mode == "inline" else f"{n + 1}  {text}"
                self._draw_label(rect, shown, verb_color(verb))
            if plan.badges:
                self._draw_label(plan.badges[n], str(n + 1), p.color, border=True)
        return self.output


def instances_from_record(image_size, record) -> Instances:
    """``hoi_instances`` of a predictions record (:mod:`rmlr.evaluation.records`: arrays
    ``subject_boxes``, ``object_boxes``, ``object_classes``, ``verbs``, ``scores``), e.g. of a
    saved predictions file. A missing object (V-COCO's empty role: NaN box, class -1) is drawn as
    the human's label alone."""
    from detectron2.structures import Boxes

    ret = Instances(image_size)
    ret.pred_subject_boxes = Boxes(torch.as_tensor(record["subject_boxes"], dtype=torch.float))
    ret.pred_object_boxes = Boxes(torch.as_tensor(record["object_boxes"], dtype=torch.float))
    ret.pred_object_classes = torch.as_tensor(record["object_classes"], dtype=torch.long)
    ret.pred_verb_classes = torch.as_tensor(record["verbs"], dtype=torch.long)
    ret.scores = torch.as_tensor(record["scores"], dtype=torch.float)
    return ret
