"""Human-object box pairs -> one annotation per entity plus interactions (the dataset-dict contract).

Both HOI annotation formats list GT *pairs* (a human box, an object box, a verb); the same person or
object appears once per pair it takes part in. The dataset dict of ``projects/RmLR/README.md`` stores
each entity once (``annotations``) and the pairs as ``[subject_index, object_index, verb_id]``
(``interactions``). :class:`PairRecordBuilder` does that conversion for one image and applies the
project's policy for bad boxes, counting what it changes in :class:`PairStats`:

* entities are merged when category and box are *exactly* equal (no IoU merging: near-duplicate
  boxes drawn by different annotators stay separate entities, as the official evaluation treats
  them as separate GT pairs);
* a box partly outside the image is clipped to ``[0, width] x [0, height]`` (counted);
* a pair whose human or object box is empty after clipping (``x2 <= x1`` or ``y2 <= y1``, or
  entirely outside the image, or NaN or infinite) is skipped (counted, first examples logged);
* an exact duplicate triplet (same subject, object and verb) is kept once (counted).

Boxes given to the builder are already continuous ``XYXY_ABS`` (the loaders convert HICO's 1-based
inclusive pixel indices first).
"""

import logging
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from detectron2.structures import BoxMode

__all__ = ["PairStats", "PairRecordBuilder"]

_MAX_EXAMPLES = 5


@dataclass
class PairStats:
    """What the bad-box policy changed in one annotation file."""

    clipped_boxes: int = 0
    skipped_pairs: int = 0
    duplicate_triplets: int = 0
    examples: List[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        if len(self.examples) < _MAX_EXAMPLES:
            self.examples.append(message)

    def log(self, logger: logging.Logger, source: str) -> None:
        """One warning per file (nothing when the file is clean)."""
        if self.clipped_boxes:
            logger.warning(
                f"{source}: clipped {self.clipped_boxes} entity box(es) to the image bounds"
            )
        if self.skipped_pairs:
            examples = [e[len(source) + 2 :] if e.startswith(source) else e for e in self.examples]
            logger.warning(
                f"{source}: skipped {self.skipped_pairs} pair(s) with an empty box "
                f"(x2 <= x1 or y2 <= y1 after clipping), e.g. {'; '.join(examples)}"
            )
        if self.duplicate_triplets:
            logger.warning(f"{source}: merged {self.duplicate_triplets} duplicate triplet(s)")


class PairRecordBuilder:
    """Collects the pairs of one image into ``annotations`` / ``interactions``.

    Args:
        width, height: image size used for clipping, or ``None`` when the annotation file has no
            image size (the boxes are then only checked for a positive area).
        stats: the file's counters, updated in place.
        where: names the image in messages (``"file.json: image 12 (name.jpg)"``).
    """

    def __init__(
        self, *, width: Optional[int], height: Optional[int], stats: PairStats, where: str
    ):
        self.width = width
        self.height = height
        self.stats = stats
        self.where = where
        self.annotations: List[Dict] = []
        self.interactions: List[List[int]] = []
        self._entity_index: Dict[Tuple, int] = {}
        self._triplets = set()

    def _clip(self, box: Sequence[float]) -> Tuple[float, float, float, float]:
        x1, y1, x2, y2 = (float(v) for v in box)
        if self.width is not None and self.height is not None:
            cx1, cx2 = min(max(x1, 0.0), self.width), min(max(x2, 0.0), self.width)
            cy1, cy2 = min(max(y1, 0.0), self.height), min(max(y2, 0.0), self.height)
            return (cx1, cy1, cx2, cy2)
        return (x1, y1, x2, y2)

    def entity(self, box: Sequence[float], category_id: int) -> Optional[int]:
        """Index of the entity with this box and category (created if new); ``None`` if empty."""
        clipped = self._clip(box)
        x1, y1, x2, y2 = clipped
        if not (x2 > x1 and y2 > y1) or not all(map(math.isfinite, clipped)):  # NaN: False
            return None
        key = (int(category_id),) + clipped
        index = self._entity_index.get(key)
        if index is None:
            if clipped != tuple(float(v) for v in box):
                self.stats.clipped_boxes += 1
            index = len(self.annotations)
            self._entity_index[key] = index
            self.annotations.append(
                {
                    "bbox": list(clipped),
                    "bbox_mode": BoxMode.XYXY_ABS,
                    "category_id": int(category_id),
                }
            )
        return index

    def add_pair(
        self,
        box_h: Sequence[float],
        box_o: Sequence[float],
        object_category: int,
        verb: int,
        *,
        subject_category: int = 0,
        keypoints_h: Optional[Sequence[float]] = None,
        pair_name: str = "",
    ) -> bool:
        """Add one GT pair; returns ``False`` when it was skipped for an empty box.

        ``keypoints_h``: the human's keypoints (Detectron2's flat ``[x, y, v] * K``), stored as
        the entity's ``keypoints``; every pair of the same human must give the same ones.
        """
        subject = self.entity(box_h, subject_category)
        obj = self.entity(box_o, object_category)
        if subject is None or obj is None:
            self.stats.skipped_pairs += 1
            bad = list(box_h) if subject is None else list(box_o)
            self.stats.note(f"{self.where} {pair_name}: box {bad}")
            return False
        if keypoints_h is not None:
            known = self.annotations[subject].setdefault("keypoints", list(keypoints_h))
            if known != list(keypoints_h):
                raise ValueError(
                    f"{self.where} {pair_name}: keypoints differ from those of an earlier pair "
                    f"of the same human box {self.annotations[subject]['bbox']}"
                )
        triplet = (subject, obj, int(verb))
        if triplet in self._triplets:
            self.stats.duplicate_triplets += 1
            return True
        self._triplets.add(triplet)
        self.interactions.append(list(triplet))
        return True
