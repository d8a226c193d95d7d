"""``HOIDatasetMapper``: one HOI dataset dict -> the model's input dict.

Input and output follow ``projects/RmLR/README.md`` ("Dataset dicts", "Mapper output"). Shapes:
``E`` entities (GT boxes) and ``M`` interactions of one image, ``H, W`` the augmented image size.

Per image the mapper

1. reads the image (``file_name``; a missing, unreadable or decompression-bomb file raises
   ``FileNotFoundError`` / ``OSError`` naming the path, :mod:`.image_io`) and checks it against ``height`` / ``width`` (filled in from the
   image when the dict has none, as for V-COCO files without sizes);
2. applies the augmentations to the image and all ``E`` boxes together (every Detectron2 transform
   moves boxes);
3. clips the boxes to the augmented image and drops entities left with no area (cropped away,
   as DETR's crop does), re-indexes the interactions and drops those whose human or object was
   dropped (and ``agent_only`` entries likewise);
4. returns the uint8 image tensor, GT ``Instances`` (``gt_boxes``, ``gt_classes``, and
   ``gt_keypoints`` when the annotations have ``keypoints``), the ``(M, 3)`` interactions and, in
   training, the annotation text (:mod:`.annotation_text`).

Keypoints (optional, Detectron2's ``[x, y, v] * K`` per annotation; entities without them get
``v = 0``) move with the transforms as in Detectron2's ``DatasetMapper``
(``transform_keypoint_annotations``): points leaving the image become ``v = 0``, and a horizontal
flip swaps left and right with ``keypoint_hflip_indices`` (from the dataset's ``keypoint_names`` /
``keypoint_flip_map`` in :meth:`HOIDatasetMapper.for_dataset`).

An image whose pairs were all cropped away is returned with ``interactions`` of shape ``(0, 3)``,
the surviving entities and empty ``hoi_text`` (no sentence): nothing crashes, and UPT-style
training treats all pairs of that image as negatives (UPT does the same with its crops).

At test time the mapper resizes but keeps the GT (``instances`` / ``interactions`` in the resized
frame) for debugging; ``height`` / ``width`` always give the original size, to which models map
their predictions back.
"""

import copy
import logging
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Boxes, BoxMode, Instances, Keypoints
from fvcore.transforms.transform import Transform

from .annotation_text import build_hoi_text
from .image_io import read_image_checked
from .transforms import build_upt_augmentation

__all__ = ["HOIDatasetMapper"]

logger = logging.getLogger(__name__)


def _check_indices(rows: np.ndarray, columns: int, num: int, what: str, record: Dict) -> np.ndarray:
    """``rows[:, :columns]`` must index the ``num`` entities, else ``ValueError`` naming the image."""
    bad = rows[:, :columns][(rows[:, :columns] < 0) | (rows[:, :columns] >= num)]
    if bad.size:
        raise ValueError(
            f"{record['file_name']}: {what}: entity index {bad[0]} out of range [0, {num})"
        )
    return rows


class HOIDatasetMapper:
    """Maps HOI dataset dicts to model inputs (module docstring).

    Args:
        is_train: training mode (adds ``hoi_text``).
        augmentations: Detectron2 augmentations / transforms applied in order
            (:func:`rmlr.data.build_upt_augmentation` gives UPT's).
        image_format: image channel order read from disk (``"RGB"`` per the contract).
        thing_classes, verb_classes: the dataset's names, for the annotation text (needed when
            ``with_hoi_text``).
        with_hoi_text: produce ``hoi_text`` (default: ``is_train``).
        deduplicate_text: one sub-sentence per distinct triplet category (default) or one per
            interaction (see :mod:`rmlr.data.annotation_text`).
        keypoint_hflip_indices: for datasets with keypoints, the index of each keypoint's mirror
            image (Detectron2's ``create_keypoint_hflip_indices``); needed to flip them.
    """

    def __init__(
        self,
        *,
        is_train: bool,
        augmentations: Sequence[Union[T.Augmentation, Transform]],
        image_format: str = "RGB",
        thing_classes: Sequence[str] = (),
        verb_classes: Sequence[str] = (),
        with_hoi_text: Optional[bool] = None,
        deduplicate_text: bool = True,
        keypoint_hflip_indices: Optional[Sequence[int]] = None,
    ):
        self.is_train = is_train
        self.augmentations = T.AugmentationList(list(augmentations))
        self.image_format = image_format
        self.thing_classes = list(thing_classes)
        self.verb_classes = list(verb_classes)
        self.with_hoi_text = is_train if with_hoi_text is None else with_hoi_text
        self.deduplicate_text = deduplicate_text
        self.keypoint_hflip_indices = (
            None if keypoint_hflip_indices is None else np.asarray(keypoint_hflip_indices)
        )
        if self.with_hoi_text and not (self.thing_classes and self.verb_classes):
            raise ValueError("HOIDatasetMapper: hoi_text needs thing_classes and verb_classes")
        mode = "training" if is_train else "inference"
        logger.info(f"HOIDatasetMapper ({mode}) augmentations: {self.augmentations}")

    @classmethod
    def for_dataset(
        cls,
        dataset_name: Union[str, Sequence[str]],
        *,
        is_train: bool,
        augmentations: Optional[Sequence[Union[T.Augmentation, Transform]]] = None,
        image_format: str = "RGB",
        **kwargs,
    ) -> "HOIDatasetMapper":
        """A mapper with the class names of a registered dataset.

        Args:
            dataset_name: a registered name (or several with the same classes, e.g. the ``names``
                of ``get_detection_dataset_dicts``).
            is_train: training mode.
            augmentations: default UPT's (:func:`rmlr.data.build_upt_augmentation`).
            image_format: image channel order.
            kwargs: other constructor arguments (``with_hoi_text``, ``deduplicate_text``;
                ``keypoint_hflip_indices`` defaults to the datasets' when they have
                ``keypoint_names``).
        """
        names = [dataset_name] if isinstance(dataset_name, str) else list(dataset_name)
        metas = [MetadataCatalog.get(n) for n in names]
        for meta in metas[1:]:
            if meta.verb_classes != metas[0].verb_classes:
                raise ValueError(f"datasets {names} have different verb classes")
        if augmentations is None:
            augmentations = build_upt_augmentation(is_train=is_train, image_format=image_format)
        if all(meta.get("keypoint_names", None) for meta in metas):
            kwargs.setdefault("keypoint_hflip_indices", utils.create_keypoint_hflip_indices(names))
        return cls(
            is_train=is_train,
            augmentations=augmentations,
            image_format=image_format,
            thing_classes=metas[0].thing_classes,
            verb_classes=metas[0].verb_classes,
            **kwargs,
        )

    def __call__(self, dataset_dict: Dict) -> Dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        image = read_image_checked(dataset_dict["file_name"], self.image_format)
        utils.check_image_size(dataset_dict, image)

        annotations = dataset_dict.pop("annotations", [])
        boxes = np.array(
            [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations],
            dtype=np.float64,
        ).reshape(-1, 4)
        classes = np.array([a["category_id"] for a in annotations], dtype=np.int64)

        aug_input = T.AugInput(image, boxes=boxes)
        transforms = self.augmentations(aug_input)
        image, boxes = aug_input.image, aug_input.boxes
        height, width = image.shape[:2]

        boxes = boxes.reshape(-1, 4).copy()
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        new_index = np.cumsum(keep) - 1

        interactions = np.asarray(dataset_dict.pop("interactions", []), dtype=np.int64)
        interactions = _check_indices(
            interactions.reshape(-1, 3), 2, len(boxes), "interactions", dataset_dict
        )
        alive = keep[interactions[:, 0]] & keep[interactions[:, 1]]
        interactions = interactions[alive]
        interactions[:, :2] = new_index[interactions[:, :2]]

        instances = Instances((height, width))
        instances.gt_boxes = Boxes(torch.as_tensor(boxes[keep], dtype=torch.float32))
        instances.gt_classes = torch.as_tensor(classes[keep], dtype=torch.int64)
        if any("keypoints" in a for a in annotations):
            keypoints = self._keypoints(annotations, transforms, (height, width), dataset_dict)
            instances.gt_keypoints = Keypoints(torch.as_tensor(keypoints[keep]))

        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        dataset_dict["instances"] = instances
        dataset_dict["interactions"] = torch.as_tensor(interactions, dtype=torch.int64)
        if "agent_only" in dataset_dict:
            agent_only = np.asarray(dataset_dict["agent_only"], dtype=np.int64).reshape(-1, 2)
            agent_only = _check_indices(agent_only, 1, len(boxes), "agent_only", dataset_dict)
            agent_only = agent_only[keep[agent_only[:, 0]]]
            agent_only[:, 0] = new_index[agent_only[:, 0]]
            dataset_dict["agent_only"] = torch.as_tensor(agent_only)
        if self.with_hoi_text:
            dataset_dict["hoi_text"] = self._hoi_text(interactions, classes[keep])
        return dataset_dict

    def _keypoints(self, annotations, transforms, image_size, record: Dict) -> np.ndarray:
        """``(E, K, 3)`` float32 keypoints in the augmented image (``v = 0`` where absent)."""
        num = next(len(a["keypoints"]) for a in annotations if "keypoints" in a) // 3
        out = np.zeros((len(annotations), num, 3), dtype=np.float32)
        for i, a in enumerate(annotations):
            if "keypoints" not in a:
                continue
            if len(a["keypoints"]) != 3 * num:
                raise ValueError(
                    f"{record['file_name']}: annotation {i} has {len(a['keypoints'])} keypoint "
                    f"values, annotation 0 with keypoints has {3 * num}"
                )
            try:
                out[i] = utils.transform_keypoint_annotations(
                    a["keypoints"], transforms, image_size, self.keypoint_hflip_indices
                )
            except ValueError as e:  # flipped without (or with wrong) flip indices
                raise ValueError(
                    f"{record['file_name']}: annotation {i}: {e} (the dataset's metadata needs "
                    "keypoint_names and keypoint_flip_map)"
                ) from e
        return out

    def _hoi_text(self, interactions: np.ndarray, classes: np.ndarray) -> Dict:
        sentences, mapping = build_hoi_text(
            interactions.tolist(),
            classes.tolist(),
            thing_classes=self.thing_classes,
            verb_classes=self.verb_classes,
            deduplicate=self.deduplicate_text,
        )
        return {
            "sentences": sentences,
            "interaction_to_sentence": torch.as_tensor(mapping, dtype=torch.int64),
        }
