"""Draw human-object interactions with Detectron2's ``Visualizer``.

For each shown triplet: the human box, the object box, a line between their centres, and a label
``"verb object score"`` at the object box. Pairs sharing the same two boxes are drawn once, with
one label line per verb. Colours are per pair, so several interactions stay readable.
"""

from typing import List, Optional, Sequence

import numpy as np
import torch
from detectron2.structures import Instances
from detectron2.utils.colormap import random_color
from detectron2.utils.visualizer import VisImage, Visualizer

__all__ = ["HOIVisualizer", "instances_from_rows", "select_hoi_rows"]


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
    if given, the ``top_k`` best (all if None), highest score first."""
    scores = instances.scores.detach().cpu().numpy()
    keep = scores >= score_thresh
    if verb is not None:
        keep &= instances.pred_verb_classes.detach().cpu().numpy() == verb
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx if top_k is None else idx[:top_k]


class HOIVisualizer(Visualizer):
    """``Visualizer`` with :meth:`draw_hoi_predictions` and :meth:`draw_hoi_ground_truth`.

    ``metadata`` needs ``thing_classes`` and ``verb_classes`` (the dataset's metadata).
    """

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

    def _draw_triplets(self, rows: Sequence[tuple]) -> VisImage:
        # rows: (human box, object box or None, text); group by the two boxes.
        groups = {}
        for h, o, text in rows:
            key = (tuple(np.round(h, 2)), None if o is None else tuple(np.round(o, 2)))
            groups.setdefault(key, []).append(text)
        for i, ((h, o), texts) in enumerate(groups.items()):
            color = random_color(rgb=True, maximum=1)
            self.draw_box(h, edge_color=color)
            hx, hy = (h[0] + h[2]) / 2, (h[1] + h[3]) / 2
            anchor = (h[0], h[1])
            if o is not None:
                self.draw_box(o, edge_color=color, line_style="--")
                ox, oy = (o[0] + o[2]) / 2, (o[1] + o[3]) / 2
                self.draw_line([hx, ox], [hy, oy], color=color)
                anchor = (o[0], o[1])
            self.draw_text("\n".join(texts), anchor, color=color, horizontal_alignment="left")
        return self.output

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
            text = self._label(verbs[i], objs[i]) + f" {scores[i]:.2f}"
            rows.append((h[i], o[i], text))
        return self._draw_triplets(rows)

    def draw_hoi_ground_truth(self, dataset_dict: dict) -> VisImage:
        """Draw a dataset dict's ``interactions`` (README contract), boxes as stored, and the
        ``keypoints`` of annotations that have them (connected by the metadata's
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
                    self._label(v, anns[o]["category_id"]),
                )
            )
        for s, v in dataset_dict.get("agent_only", []):
            rows.append((np.asarray(anns[s]["bbox"], dtype=float), None, self._label(v, None)))
        return self._draw_triplets(rows)

    def _label(self, verb: int, obj: Optional[int]) -> str:
        verbs: List[str] = self.metadata.get("verb_classes", None) or []
        objects: List[str] = self.metadata.get("thing_classes", None) or []
        v = _readable(verbs[verb]) if verb < len(verbs) else f"verb{verb}"
        if obj is None:
            return v
        o = _readable(objects[obj]) if obj < len(objects) else f"object{obj}"
        return f"{v} {o}"


def instances_from_rows(image_size, rows: Sequence[dict]) -> Instances:
    """Build ``hoi_instances`` from predictions-file rows (``subject_box``, ``object_box``,
    ``object_category``, ``verb``, ``score``), e.g. to draw a saved predictions file."""
    from detectron2.structures import Boxes

    ret = Instances(image_size)
    n = len(rows)
    ret.pred_subject_boxes = Boxes(torch.tensor([r["subject_box"] for r in rows]).reshape(n, 4))
    ret.pred_object_boxes = Boxes(
        torch.tensor([r["object_box"] or [0.0] * 4 for r in rows]).reshape(n, 4)
    )
    ret.pred_object_classes = torch.tensor([r["object_category"] for r in rows], dtype=torch.long)
    ret.pred_verb_classes = torch.tensor([r["verb"] for r in rows], dtype=torch.long)
    ret.scores = torch.tensor([r["score"] for r in rows], dtype=torch.float)
    return ret
