"""The attention-map picture of one pair (UPT / PViC users know the kind), from an
:class:`~rmlr.utils.attention_maps.ImageAttention`:

1. **IRE pooling** — the image with the pair's masked union pooling weights as a heat map
   (cells the IRE averaged for this pair; the rest of the image dimmed) and the pair's boxes.
2. **IRM attention** — the pairs this pair attended to in the competitive layer (mean over
   heads): one line per pair of the image from its human to its object, brighter and thicker for
   more attention; the strongest ones carry their rank in a badge.
3. **Ranking** — the strongest attention weights as bars, each named by its rank and the pair's
   best predicted triplet.
"""

import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from matplotlib import cm
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle as _Patch

from .attention_maps import ImageAttention
from .label_layout import PairGeometry, Rect, place_badges
from .visualizer import draw_outlined_box, outline, text_color, verb_color

__all__ = ["draw_attention", "pair_names"]

_DPI = 100.0


def _centres(att: ImageAttention, j: int):
    h, o = att.boxes_h[j], att.boxes_o[j]
    return ((h[0] + h[2]) / 2, (o[0] + o[2]) / 2), ((h[1] + h[3]) / 2, (o[1] + o[3]) / 2)


def pair_names(att: ImageAttention, instances, metadata) -> Tuple[Dict[int, str], Dict[int, int]]:
    """(pair -> "verb object score" of its best output row, pair -> that verb) for the pairs of
    ``att`` that have output rows in ``instances`` (the model's ``hoi_instances``)."""
    verbs_names = list(metadata.get("verb_classes", []) or [])
    objects = list(metadata.get("thing_classes", []) or [])
    names: Dict[int, str] = {}
    verbs: Dict[int, int] = {}
    subject = instances.pred_subject_boxes.tensor.tolist()
    obj = instances.pred_object_boxes.tensor.tolist()
    for r in instances.scores.argsort(descending=True).tolist():
        j = att.pair_index(subject[r], obj[r])
        if j in names:
            continue
        v, o = int(instances.pred_verb_classes[r]), int(instances.pred_object_classes[r])
        verb = verbs_names[v] if v < len(verbs_names) else f"verb{v}"
        thing = objects[o] if 0 <= o < len(objects) else f"object{o}"
        names[j] = f"{verb} {thing} {float(instances.scores[r]):.2f}".replace("_", " ")
        verbs[j] = v
    return names, verbs


def draw_attention(
    image_rgb: np.ndarray,
    att: ImageAttention,
    pair: int,
    *,
    pair_labels: Optional[Dict[int, str]] = None,
    pair_verbs: Optional[Dict[int, int]] = None,
    class_names: Sequence[str] = (),
    scale: float = 1.0,
    top: int = 5,
) -> np.ndarray:
    """RGB picture (three panels side by side) of what ``pair`` looked at.

    Args:
        image_rgb: (H, W, 3) the original image.
        att: the image's captured attention.
        pair: index of the pair in ``att``.
        pair_labels: pair index -> text (its best predicted triplet, e.g. "ride bicycle 0.84");
            pairs without one (e.g. human-human pairs, which have no valid verb) are named by
            their object class from ``class_names``.
        class_names: the dataset's ``thing_classes``.
        pair_verbs: pair index -> verb id, for the colours (default: one colour).
        scale: draw this many times larger (``--scale``).
        top: rank badges and bars for this many of the most attended pairs.
    """
    verbs = pair_verbs or {}
    labels = {}
    for j, c in enumerate(att.object_classes.tolist()):
        obj = class_names[c] if 0 <= c < len(class_names) else f"object {c}"
        labels[j] = f"person - {obj} (no verb shown)"
    labels.update(pair_labels or {})
    height, width = image_rgb.shape[:2]
    w_px, h_px = width * scale, height * scale
    font_px = max(12.0, round(math.sqrt(h_px * w_px) / 45.0))
    points = font_px * 72.0 / _DPI
    lw = max(2.0, font_px / 6.0) * 72.0 / _DPI
    title_px = 2.2 * font_px
    bars_px = max(0.8 * w_px, 30 * font_px)
    fig = Figure(figsize=((2 * w_px + bars_px) / _DPI, (h_px + title_px) / _DPI), dpi=_DPI)
    canvas = FigureCanvasAgg(fig)
    total_w, total_h = 2 * w_px + bars_px, h_px + title_px
    axes = [fig.add_axes([k * w_px / total_w, 0.0, w_px / total_w, h_px / total_h]) for k in (0, 1)]
    color = verb_color(verbs.get(pair, 0))
    name = labels[pair]

    # 1. IRE pooling weights
    ax = axes[0]
    ax.imshow(image_rgb, extent=(0, width, height, 0), interpolation="nearest")
    if att.pooling is not None:
        heat = att.pooling_map(pair)
        norm = heat / heat.max() if heat.max() > 0 else heat
        rgba = cm.inferno(norm)
        rgba[..., 3] = np.where(norm > 0, 0.35 + 0.4 * norm, 0.55)  # dim what was not pooled
        rgba[norm <= 0, :3] = 0.0
        ax.imshow(rgba, extent=(0, width, height, 0), interpolation="nearest")
        ire_title = f"IRE pooling: {name}"
    else:
        ire_title = "IRE pooling: none (model without IRE)"
    draw_outlined_box(ax, att.boxes_h[pair], color, lw)
    draw_outlined_box(ax, att.boxes_o[pair], color, lw, dashed=True)

    # 2. IRM pair-to-pair attention
    ax = axes[1]
    ax.imshow((0.45 * image_rgb + 0.55 * 255).astype(np.uint8), extent=(0, width, height, 0))
    weights = att.attended(pair) if att.pair_attention else np.zeros(len(att))
    rel = weights / weights.max() if weights.max() > 0 else weights
    for j in np.argsort(rel, kind="stable"):
        xs, ys = _centres(att, j)
        ax.plot(
            xs,
            ys,
            color=cm.viridis(rel[j]),
            linewidth=lw * (0.3 + 2.5 * rel[j]),
            alpha=0.25 + 0.75 * rel[j],
            path_effects=outline(lw * (0.3 + 2.5 * rel[j])),
        )
    draw_outlined_box(ax, att.boxes_h[pair], color, lw)
    draw_outlined_box(ax, att.boxes_o[pair], color, lw, dashed=True)
    ranked = [int(j) for j in np.argsort(-weights, kind="stable")[:top]]
    geometry = []
    for j in ranked:
        (hx, ox), (hy, oy) = _centres(att, j)
        box = Rect(hx * scale, hy * scale, hx * scale + 1, hy * scale + 1)
        end = Rect(ox * scale, oy * scale, ox * scale + 1, oy * scale + 1)
        geometry.append(PairGeometry(box, end, [], []))
    badge = (1.6 * font_px, 1.45 * font_px)
    for rank, rect in enumerate(place_badges(geometry, badge, w_px, h_px)):
        fill = cm.viridis(rel[ranked[rank]])[:3]
        ax.add_patch(
            _Patch(
                (rect.x0 / scale, rect.y0 / scale),
                rect.width / scale,
                rect.height / scale,
                facecolor=fill,
                edgecolor="black",
                zorder=3,
            )
        )
        ax.text(
            (rect.x0 + rect.x1) / 2 / scale,
            (rect.y0 + rect.y1) / 2 / scale,
            str(rank + 1),
            fontsize=points,
            color=text_color(fill),
            ha="center",
            va="center_baseline",
            zorder=4,
        )
    for a in axes:
        a.set_xlim(0, width)
        a.set_ylim(height, 0)
        a.axis("off")

    # 3. ranking
    ax = fig.add_axes(
        [
            (2 * w_px + 0.45 * bars_px) / total_w,
            0.16 * h_px / total_h,
            0.5 * bars_px / total_w,
            0.72 * h_px / total_h,
        ]
    )
    ys = np.arange(len(ranked))
    ax.barh(
        ys,
        [weights[j] for j in ranked],
        color=[cm.viridis(rel[j]) for j in ranked],
        edgecolor="black",
    )
    names = [
        f"{k + 1}  {labels[j]}" + (" (itself)" if j == pair else "") for k, j in enumerate(ranked)
    ]
    ax.set_yticks(ys, names, fontsize=points)
    ax.invert_yaxis()
    ax.axvline(1.0 / max(len(att), 1), color="gray", linestyle="--", linewidth=1)
    ax.text(
        1.0 / max(len(att), 1),
        -0.55,
        "uniform",
        color="gray",
        fontsize=0.8 * points,
        ha="center",
        va="bottom",
    )
    ax.set_xlim(0, max(float(weights.max()), 1e-6) * 1.15)
    ax.tick_params(axis="x", labelsize=0.8 * points)
    ax.set_xlabel("attention weight (mean over heads)", fontsize=0.8 * points)

    for k, text in enumerate((ire_title, "IRM competitive layer: attention to other pairs")):
        fig.text(
            (k + 0.5) * w_px / total_w,
            1 - 0.5 * title_px / total_h,
            text,
            fontsize=points,
            ha="center",
            va="center",
        )
    fig.text(
        (2 * w_px + 0.5 * bars_px) / total_w,
        1 - 0.5 * title_px / total_h,
        "most attended pairs",
        fontsize=points,
        ha="center",
        va="center",
    )
    canvas.draw()
    buffer, (w, h) = canvas.print_to_buffer()
    return np.frombuffer(buffer, np.uint8).reshape(h, w, 4)[:, :, :3].copy()
