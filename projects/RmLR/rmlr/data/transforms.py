"""UPT's data augmentation written with Detectron2 transforms.

UPT (github.com/fredzzhang/upt, ``utils.py``), following DETR, trains with

* horizontal flip (p = 0.5);
* colour jitter: brightness, contrast and saturation factors uniform in ``[0.6, 1.4]``, applied in
  random order (torchvision's ``ColorJitter(.4, .4, .4)``);
* with p = 0.5 either a resize of the shorter side to one of ``480, 512, ..., 800`` (longer side at
  most 1333), or a resize to ``{400, 500, 600}``, a random crop of ``384..600`` pixels per side and
  then the same multi-scale resize;

and tests with a resize of the shorter side to 800 (longer side at most 1333).

Detectron2 has flips, resizes and crops; this module adds :class:`ColorJitter` (torchvision's
semantics as an ``Augmentation`` producing a :class:`ColorJitterTransform`) and
:class:`RandomSelect` (DETR's choice between two augmentation sequences). Every transform moves
boxes (``apply_box``), so the mapper can keep boxes and pairs consistent.
"""

from typing import List, Sequence, Tuple, Union

import cv2
import numpy as np
from detectron2.data import transforms as T
from fvcore.transforms.transform import NoOpTransform, Transform

__all__ = [
    "ColorJitterTransform",
    "ColorJitter",
    "RandomSelect",
    "UPT_TRAIN_SCALES",
    "build_upt_augmentation",
]

#: Shorter-side lengths of UPT's multi-scale resize: 480, 512, ..., 800.
UPT_TRAIN_SCALES: Tuple[int, ...] = tuple(range(480, 801, 32))

_GRAY_WEIGHTS_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601-2 luma


class ColorJitterTransform(Transform):
    """Brightness / contrast / saturation / hue changes in a given order (geometry unchanged).

    Follows torchvision's ``adjust_*`` functions: brightness scales the image, contrast blends with
    the mean grey level, saturation blends with the grey image, hue rotates the HSV hue by
    ``hue_factor`` turns; values are clipped after each step and rounded once at the end.

    Args:
        brightness, contrast, saturation: blend factors (1 = unchanged).
        hue: hue shift in turns, in ``[-0.5, 0.5]`` (0 = unchanged).
        order: the order of the four operations, a permutation of ``("brightness", "contrast",
            "saturation", "hue")``.
        image_format: ``"RGB"`` or ``"BGR"`` (channel order of the images it is applied to).
    """

    def __init__(
        self,
        *,
        brightness: float,
        contrast: float,
        saturation: float,
        hue: float,
        order: Sequence[str],
        image_format: str = "RGB",
    ):
        super().__init__()
        if image_format not in ("RGB", "BGR"):
            raise ValueError(f"ColorJitterTransform needs RGB or BGR images, got {image_format}")
        self._set_attributes(locals())

    def _gray(self, image: np.ndarray) -> np.ndarray:
        weights = _GRAY_WEIGHTS_RGB if self.image_format == "RGB" else _GRAY_WEIGHTS_RGB[::-1]
        return image @ weights

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"ColorJitterTransform needs (H, W, 3) images, got {img.shape}")
        bound = 255.0
        x = img.astype(np.float32)
        for op in self.order:
            if op == "brightness" and self.brightness != 1:
                x = np.clip(x * self.brightness, 0, bound)
            elif op == "contrast" and self.contrast != 1:
                mean = float(self._gray(x).mean())
                x = np.clip(self.contrast * x + (1 - self.contrast) * mean, 0, bound)
            elif op == "saturation" and self.saturation != 1:
                gray = self._gray(x)[..., None]
                x = np.clip(self.saturation * x + (1 - self.saturation) * gray, 0, bound)
            elif op == "hue" and self.hue != 0:
                x = self._shift_hue(x / bound) * bound
        if img.dtype == np.uint8:
            return np.clip(np.rint(x), 0, 255).astype(np.uint8)
        return x.astype(img.dtype)

    def _shift_hue(self, x: np.ndarray) -> np.ndarray:
        forward, backward = (
            (cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB)
            if self.image_format == "RGB"
            else (cv2.COLOR_BGR2HSV, cv2.COLOR_HSV2BGR)
        )
        hsv = cv2.cvtColor(np.ascontiguousarray(x, dtype=np.float32), forward)  # H in [0, 360)
        hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * self.hue, 360.0)
        return np.clip(cv2.cvtColor(hsv, backward), 0.0, 1.0)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def inverse(self) -> Transform:
        return NoOpTransform()


class ColorJitter(T.Augmentation):
    """torchvision's ``ColorJitter`` as a Detectron2 augmentation.

    Factors are drawn uniformly from ``[max(0, 1 - s), 1 + s]`` for brightness, contrast and
    saturation and from ``[-hue, hue]`` for the hue, and the operations are applied in a random
    order, as in torchvision.

    Args:
        brightness, contrast, saturation: jitter strengths ``s >= 0`` (0 disables one).
        hue: hue jitter in turns, ``0 <= hue <= 0.5``.
        image_format: channel order of the images, ``"RGB"`` or ``"BGR"``.
    """

    _OPS = ("brightness", "contrast", "saturation", "hue")

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        *,
        image_format: str = "RGB",
    ):
        super().__init__()
        if min(brightness, contrast, saturation) < 0 or not 0 <= hue <= 0.5:
            raise ValueError(
                "ColorJitter needs brightness, contrast, saturation >= 0 and 0 <= hue <= 0.5"
            )
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        if not (self.brightness or self.contrast or self.saturation or self.hue):
            return NoOpTransform()

        def factor(strength: float) -> float:
            return float(np.random.uniform(max(0.0, 1 - strength), 1 + strength))

        return ColorJitterTransform(
            brightness=factor(self.brightness),
            contrast=factor(self.contrast),
            saturation=factor(self.saturation),
            hue=float(np.random.uniform(-self.hue, self.hue)),
            order=tuple(self._OPS[i] for i in np.random.permutation(len(self._OPS))),
            image_format=self.image_format,
        )


AugmentationLike = Union[T.Augmentation, Transform]


class RandomSelect(T.Augmentation):
    """Apply ``first`` with probability ``prob``, else ``second`` (DETR's ``RandomSelect``).

    Args:
        first, second: an augmentation / transform or a sequence of them (applied in order).
        prob: probability of choosing ``first``.
    """

    def __init__(
        self,
        first: Union[AugmentationLike, Sequence[AugmentationLike]],
        second: Union[AugmentationLike, Sequence[AugmentationLike]],
        prob: float = 0.5,
    ):
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"RandomSelect: probability {prob} outside [0, 1]")
        self.first = first
        self.second = second
        self.prob = prob
        self._first = T.AugmentationList(list(first) if isinstance(first, Sequence) else [first])
        self._second = T.AugmentationList(
            list(second) if isinstance(second, Sequence) else [second]
        )

    def get_transform(self, *args) -> Transform:
        raise NotImplementedError("RandomSelect is applied with __call__(aug_input)")

    def __call__(self, aug_input) -> Transform:
        chosen = self._first if np.random.rand() < self.prob else self._second
        return chosen(aug_input)


def build_upt_augmentation(
    *,
    is_train: bool,
    scales: Sequence[int] = UPT_TRAIN_SCALES,
    max_size: int = 1333,
    crop_pre_scales: Sequence[int] = (400, 500, 600),
    crop_size: Tuple[int, int] = (384, 600),
    test_size: int = 800,
    flip_prob: float = 0.5,
    color_jitter: Tuple[float, float, float] = (0.4, 0.4, 0.4),
    select_prob: float = 0.5,
    image_format: str = "RGB",
) -> List[T.Augmentation]:
    """UPT's augmentation (module docstring) as a list of Detectron2 augmentations.

    Args:
        is_train: training augmentation, or the test-time resize.
        scales: shorter-side lengths of the multi-scale resize (one is chosen per image).
        max_size: longest side after the multi-scale and test resizes.
        crop_pre_scales: shorter-side lengths of the resize before the random crop (no cap).
        crop_size: ``(min, max)`` side of the random crop, each side sampled independently and
            capped by the image (Detectron2's ``"absolute_range"`` = DETR's ``RandomSizeCrop``).
        test_size: shorter side at test time.
        flip_prob: horizontal flip probability.
        color_jitter: brightness, contrast, saturation strengths.
        select_prob: probability of the plain multi-scale resize (else resize + crop + resize).
        image_format: channel order of the images (for the colour jitter).

    The defaults are UPT's; small-image datasets (the synthetic one) pass smaller sizes.
    """
    if not is_train:
        return [T.ResizeShortestEdge([test_size], max_size, sample_style="choice")]
    multi_scale = T.ResizeShortestEdge(list(scales), max_size, sample_style="choice")
    return [
        T.RandomFlip(prob=flip_prob, horizontal=True, vertical=False),
        ColorJitter(*color_jitter, image_format=image_format),
        RandomSelect(
            multi_scale,
            [
                T.ResizeShortestEdge(list(crop_pre_scales), sample_style="choice"),
                T.RandomCrop("absolute_range", tuple(crop_size)),
                T.ResizeShortestEdge(list(scales), max_size, sample_style="choice"),
            ],
            prob=select_prob,
        ),
    ]
