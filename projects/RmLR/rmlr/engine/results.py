"""The final results table printed (and written to ``results.md``) by the training entry."""

from typing import Dict, Mapping

__all__ = ["format_results_table"]

# Rows and columns of the two protocols' tables, as the HOI literature prints them.
_HICO_ROWS = (("Default", ""), ("Known Object", "ko_"))
_HICO_COLS = (("Full", "full"), ("Rare", "rare"), ("Non-rare", "non_rare"))
# Zero-shot evaluations (issue 14) add these columns (present only when the evaluator has them).
_HICO_ZERO_SHOT_COLS = (("Unseen", "unseen"), ("Seen", "seen"))
_VCOCO_COLS = (("AP_role S1", "AP_role_S1"), ("AP_role S2", "AP_role_S2"), ("AP_agent", "AP_agent"))


def _fmt(value) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def format_results_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Markdown table(s) for the evaluator results ``{"hico_det": {...}, "vcoco": {...}, ...}``.

    HICO-DET metrics are read from the evaluator's keys ``full``/``rare``/``non_rare`` (Default)
    and ``ko_full``/``ko_rare``/``ko_non_rare`` (Known Object), plus ``unseen`` / ``seen`` (and
    ``ko_``) columns for a zero-shot evaluation, V-COCO from ``AP_role_S1`` / ``AP_role_S2`` / ``AP_agent``; any other
    task (e.g. ``bbox`` from a detection evaluator) is listed metric by metric.
    """
    parts = []
    for task, metrics in results.items():
        metrics: Dict[str, float] = dict(metrics)
        if task == "hico_det":
            cols = _HICO_COLS + (_HICO_ZERO_SHOT_COLS if "unseen" in metrics else ())
            lines = ["| HICO-DET mAP | " + " | ".join(c for c, _ in cols) + " |"]
            lines.append("|---" * (len(cols) + 1) + "|")
            for row_name, row in _HICO_ROWS:
                vals = [_fmt(metrics.get(f"{row}{col}")) for _, col in cols]
                lines.append(f"| {row_name} | " + " | ".join(vals) + " |")
        elif task == "vcoco":
            lines = ["| V-COCO | " + " | ".join(c for c, _ in _VCOCO_COLS) + " |"]
            lines.append("|---" * (len(_VCOCO_COLS) + 1) + "|")
            lines.append(
                "| AP | " + " | ".join(_fmt(metrics.get(k)) for _, k in _VCOCO_COLS) + " |"
            )
        else:
            lines = [f"| {task} | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
