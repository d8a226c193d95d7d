"""The per-class AP plot written next to the per-class AP CSV (``<task>_per_class_ap.png``).

* HICO-DET: two panels, rare and non-rare classes, each sorted by Default AP (bars) with the
  Known-Object AP as dots and the panel's mAP as a line; with few classes (<= 40 in a panel) the
  bars are named.
* V-COCO: the action-roles sorted by role AP scenario 1 (bars) with scenario 2 as dots; roles
  without ground truth (NaN) are left out.

Drawn with matplotlib's Agg canvas (no display needed).
"""

from typing import Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_per_class_ap"]

_NAMED = 40  # name the bars when a panel has at most this many classes
_BAR, _DOT = "#3b75af", "#e1812c"


def _panel(ax, names: Sequence[str], bars: np.ndarray, dots: np.ndarray, title: str, labels):
    order = np.argsort(-bars, kind="stable")
    x = np.arange(len(order))
    ax.bar(x, bars[order], width=0.85, color=_BAR, label=labels[0])
    ax.plot(
        x, dots[order], ".", color=_DOT, markersize=4 if len(x) > _NAMED else 7, label=labels[1]
    )
    if len(x):
        ax.axhline(
            float(np.mean(bars)),
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"mean {np.mean(bars):.2f}",
        )
    ax.set_title(f"{title} ({len(x)} classes)")
    ax.set_ylim(0, 100)
    ax.set_xlim(-0.6, max(len(x), 1) - 0.4)
    ax.set_ylabel("AP (%)")
    if 0 < len(x) <= _NAMED:
        ax.set_xticks(x, [names[i] for i in order], rotation=70, ha="right", fontsize=8)
    else:
        ax.set_xticks([])
        ax.set_xlabel("classes, sorted by AP")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")


def _hico_det(fig, result) -> None:
    ap = result.ap
    default = 100.0 * np.asarray(ap.ap_default, float)
    known = 100.0 * np.asarray(ap.ap_known_object, float)
    n = len(default)
    rare = result.rare_ids if result.rare_ids is not None else np.zeros(0, np.int64)
    non_rare = result.non_rare_ids if result.non_rare_ids is not None else np.arange(n)
    groups = [(ids, t) for ids, t in ((rare, "Rare"), (non_rare, "Non-rare")) if len(ids)]
    widths = [max(len(ids), 8) for ids, _ in groups]
    axes = fig.subplots(1, len(groups), gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    for ax, (ids, title) in zip(axes, groups):
        ids = np.asarray(ids, np.int64)
        names = [result.class_names[i] for i in ids]
        _panel(ax, names, default[ids], known[ids], title, ("Default", "Known Object"))
    fig.suptitle("HICO-DET per-class AP")


def _vcoco(fig, result) -> None:
    s1 = 100.0 * np.asarray(result.ap.role_ap_s1, float)
    s2 = 100.0 * np.asarray(result.ap.role_ap_s2, float)
    keep = np.flatnonzero(np.isfinite(s1))
    ax = fig.subplots(1, 1)
    names = [result.role_names[i] for i in keep]
    _panel(ax, names, s1[keep], s2[keep], "Action-roles", ("role AP S1", "role AP S2"))
    fig.suptitle("V-COCO per-class role AP")


def plot_per_class_ap(result, path: str, *, title: Optional[str] = None) -> str:
    """Write the plot of a :class:`~rmlr.evaluation.HICODetResult` or
    :class:`~rmlr.evaluation.VCOCOResult` to ``path`` (PNG); returns ``path``."""
    from .hico_det_evaluation import HICODetResult
    from .vcoco_evaluation import VCOCOResult

    fig = Figure(figsize=(14, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    if isinstance(result, HICODetResult):
        _hico_det(fig, result)
    elif isinstance(result, VCOCOResult):
        _vcoco(fig, result)
    else:
        raise TypeError(f"no per-class AP plot for {type(result).__name__}")
    if title:
        fig.suptitle(title)
    fig.savefig(path)
    return path
