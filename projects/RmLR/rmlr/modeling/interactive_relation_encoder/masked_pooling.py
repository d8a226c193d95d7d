"""Masked union pooling of the IRE (Eq. 5's ``GAP(mROI(X_e, B~))``): ROIAlign over the union box
of each human-object pair, sample points outside both boxes zeroed (Fig. 4), then global average
pooling.

Shape shorthand (extends :mod:`rmlr.modeling.entity_detection.entity_detections`):
    E: channels of the pooled map     G: sample grid side (pool_size * sampling_ratio)

Masked pooling, exactly: ROIAlign with ``sampling_ratio=r`` and ``pool_size=S`` averages, in each
bin, r x r bilinear samples at the centres of a regular G x G grid (G = S r) over the box. We take
those G x G samples directly (ROIAlign with output G and one sample per bin, ``aligned=True`` so
that continuous pixel coordinates map to ``x * scale - 0.5``), zero the samples whose image point
lies outside both boxes (a point on a box edge is inside) and average all G x G values: the result
is the masked ROIAlign followed by GAP, on each image's own (unpadded) cells, with ROIAlign's
border rules (a sample more than one cell outside the map is zero; one within a cell of it is
clamped to the border cells).

Computed as one linear map per pair: bilinear sampling is linear in the features and separable in
rows and columns, and "inside the human box or inside the object box" is a sum of three separable
masks (human + object - both), so the whole masked average is ``sum_cells W_p * X`` with a weight
map ``W_p`` (h, w) built from 1-D interpolation weights, and all pairs of an image pool with one
matrix product. This gives the same values as sampling the G x G points and masking them (the
tests compare with torchvision's ``roi_align`` on every image alone, to 1e-5), without
materialising P x E x G x G samples, and its backward is a matrix product too rather than
ROIAlign's scatter (13.5 ms of a 99 ms tiny training step on CPU before; see
``benchmarks/RESULTS.md``). Cells beyond an image's valid region (padding) get no weight, so a pair
pools the same values whatever padding its image gets in a batch.
"""

from typing import Optional, Tuple

import torch

from ..attention_layers import pack_sequences, unpack_sequences

__all__ = ["masked_union_pool", "pool_cells", "union_boxes", "union_pool_weights", "valid_cells"]


def union_boxes(boxes_h: torch.Tensor, boxes_o: torch.Tensor) -> torch.Tensor:
    """(P, 4), (P, 4) -> (P, 4) smallest box enclosing both."""
    return torch.cat(
        [
            torch.minimum(boxes_h[:, :2], boxes_o[:, :2]),
            torch.maximum(boxes_h[:, 2:], boxes_o[:, 2:]),
        ],
        dim=1,
    )


def _inside(coords: torch.Tensor, boxes: torch.Tensor, axis: int) -> torch.Tensor:
    """(P, G) sample coordinates along ``axis`` (0: x, 1: y), (P, 4) xyxy boxes -> (P, G) float,
    1 where the coordinate lies within the box's extent on that axis (edges included)."""
    inside = (coords >= boxes[:, axis : axis + 1]) & (coords <= boxes[:, axis + 2 : axis + 3])
    return inside.to(coords.dtype)


def _interpolation_weights(coords: torch.Tensor, valid: torch.Tensor, size: int) -> torch.Tensor:
    """ROIAlign's 1-D bilinear weights (torchvision ``bilinear_interpolate``): sample coordinates
    in cells (P, G), valid cells of each pair's image (P,) -> (P, G, size) weights over the cells.

    A sample below -1 or beyond ``valid`` is zero; one in [-1, 0] reads cell 0; one at or beyond
    the last valid cell reads that cell.
    """
    last = (valid - 1).to(coords.dtype)[:, None]
    empty = (coords < -1.0) | (coords > valid.to(coords.dtype)[:, None])
    c = coords.clamp(min=0.0)
    c = torch.minimum(c, last)  # at or beyond the last cell: that cell, no interpolation
    low = c.floor()
    frac = c - low
    low = low.long()
    high = torch.minimum(low + 1, (valid - 1)[:, None])
    keep = (~empty).to(coords.dtype)
    weights = coords.new_zeros(coords.shape + (size,))
    weights.scatter_add_(2, low[..., None], ((1.0 - frac) * keep)[..., None])
    weights.scatter_add_(2, high[..., None], (frac * keep)[..., None])
    return weights


def union_pool_weights(
    boxes_h: torch.Tensor,
    boxes_o: torch.Tensor,
    valid_hw: torch.Tensor,
    *,
    map_hw: Tuple[int, int],
    spatial_scale: float,
    grid_size: int,
) -> torch.Tensor:
    """The weight map of the masked union pooling of each pair (see the module docstring).

    Args:
        boxes_h, boxes_o: (P, 4) xyxy in input-image pixels.
        valid_hw: (P, 2) int64 valid cells (rows, columns) of each pair's image.
        map_hw: (h, w) of the (padded) feature map.
        spatial_scale: feature cells per pixel (1 / stride).
        grid_size: G, samples per side of the union box.

    Returns:
        (P, h, w) float32 weights ``W_p``: the masked GAP of pair p is ``sum(W_p * X)``.
    """
    # float32 throughout, also under autocast: pixel coordinates of large images and the
    # weights' sums need it (torchvision's autocast rule for roi_align is float32 as well)
    with torch.autocast(device_type=boxes_h.device.type, enabled=False):
        return _union_pool_weights(
            boxes_h.detach().float(),
            boxes_o.detach().float(),
            valid_hw,
            map_hw=map_hw,
            spatial_scale=spatial_scale,
            grid_size=grid_size,
        )


def _union_pool_weights(boxes_h, boxes_o, valid_hw, *, map_hw, spatial_scale, grid_size):
    union = union_boxes(boxes_h, boxes_o)
    k = torch.arange(grid_size, device=union.device, dtype=union.dtype)
    factors = []
    for axis, size in ((1, map_hw[0]), (0, map_hw[1])):  # rows (y), then columns (x)
        lo, hi = union[:, axis : axis + 1], union[:, axis + 2 : axis + 3]
        # sample positions in cells, computed as torchvision's kernel does (aligned=True)
        start = lo * spatial_scale - 0.5
        bin_size = (hi * spatial_scale - 0.5 - start) / grid_size
        cells = start + k * bin_size + 0.5 * bin_size
        interp = _interpolation_weights(cells, valid_hw[:, 1 - axis], size)  # (P, G, size)
        # the same sample positions in pixels decide inside / outside the boxes
        pixels = lo + (k + 0.5) / grid_size * (hi - lo)
        in_h, in_o = _inside(pixels, boxes_h, axis), _inside(pixels, boxes_o, axis)
        masks = torch.stack([in_h, in_o, in_h * in_o], dim=1)  # (P, 3, G)
        factors.append(torch.bmm(masks, interp))  # (P, 3, size)
    rows, cols = factors
    sign = rows.new_tensor([1.0, 1.0, -1.0])[:, None]  # inside h or o = h + o - (h and o)
    return torch.bmm((rows * sign).transpose(1, 2), cols) / grid_size**2


def masked_union_pool(
    features: torch.Tensor,
    boxes_h: torch.Tensor,
    boxes_o: torch.Tensor,
    image_index: torch.Tensor,
    *,
    spatial_scale: float,
    grid_size: int,
    valid_hw: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Masked ROI pooling over union boxes followed by global average pooling.

    Args:
        features: (N, E, h, w).
        boxes_h, boxes_o: (P, 4) xyxy in input-image pixels (not differentiated).
        image_index: (P,) int64 image of each pair.
        spatial_scale: feature cells per pixel (1 / stride).
        grid_size: G, samples per side of the union box.
        valid_hw: (N, 2) int64 valid (unpadded) rows and columns of each image's map; default:
            the whole map.

    Returns:
        (P, E): mean over the G x G samples of the union box, samples outside both boxes zeroed.
    """
    n, _, h, w = features.shape
    if valid_hw is None:
        valid_hw = torch.as_tensor([[h, w]], device=features.device).expand(n, 2)
    weights = union_pool_weights(
        boxes_h,
        boxes_o,
        valid_hw[image_index],
        map_hw=(h, w),
        spatial_scale=spatial_scale,
        grid_size=grid_size,
    )
    return pool_cells(features.flatten(2).transpose(1, 2), weights.flatten(1), image_index)


def pool_cells(
    tokens: torch.Tensor, weights: torch.Tensor, image_index: torch.Tensor
) -> torch.Tensor:
    """Weighted sums of cells: (N, M, E) features at M cells, (P, M) weights of each pair over
    the same cells, (P,) int64 image of each pair -> (P, E), row p = ``weights[p] @ tokens[i_p]``.

    One image: one (P x M) @ (M x E) product. Several: the pairs are grouped by image and one
    batched product runs over the images.
    """
    n = tokens.shape[0]
    weights = weights.to(tokens.dtype)
    if n == 1:
        return weights @ tokens[0]
    order = torch.argsort(image_index, stable=True)
    packed, padding = pack_sequences(weights[order], image_index[order], n)
    pooled = torch.bmm(packed, tokens)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.shape[0], device=order.device)
    return unpack_sequences(pooled, padding)[inverse]


def valid_cells(padding_mask: torch.Tensor) -> torch.Tensor:
    """(N, h, w) bool padding mask (True on padding; valid cells form a top-left rectangle) ->
    (N, 2) int64 valid rows and columns (at least 1)."""
    rows = (~padding_mask[:, :, 0]).sum(dim=1).clamp(min=1)
    cols = (~padding_mask[:, 0, :]).sum(dim=1).clamp(min=1)
    return torch.stack([rows, cols], dim=1)
