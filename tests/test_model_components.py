"""RmLR's HOI-stage components alone: pairs, GT association, spatial encodings, masked union
pooling (hand-computed values), attention packing, the IRE / IRM shapes and the losses."""

import math

import pytest
import torch
import torch.nn.functional as F
from model_helpers import tiny_irm
from torchvision.ops import roi_align

from rmlr.modeling.attention_layers import MultiHeadAttention, pack_sequences, unpack_sequences
from rmlr.modeling.entity_detection.entity_detections import EntityDetections
from rmlr.modeling.entity_detection.position_encoding import PositionEmbeddingSine
from rmlr.modeling.interaction_reasoning.spatial_encoding import (
    BoxPairSpatialEncoder,
    box_pair_spatial_features,
)
from rmlr.modeling.interactive_relation_encoder import (
    InteractiveRelationEncoder,
    masked_union_pool,
    union_boxes,
    union_pool_weights,
    valid_cells,
)
from rmlr.modeling.losses import connected_zero, l1_distance, product_score_focal_loss
from rmlr.modeling.pairs import associate_pairs, build_pairs


def detections(per_image, d=8, c=4, hw=(6, 6)):
    """EntityDetections from per-image lists of (box, score, label)."""
    boxes, scores, labels, emb = [], [], [], []
    for ents in per_image:
        boxes.append(torch.tensor([e[0] for e in ents], dtype=torch.float32).view(-1, 4))
        scores.append(torch.tensor([e[1] for e in ents], dtype=torch.float32))
        labels.append(torch.tensor([e[2] for e in ents], dtype=torch.int64))
        emb.append(torch.randn(len(ents), d))
    n = len(per_image)
    return EntityDetections(
        boxes=boxes,
        scores=scores,
        labels=labels,
        embeddings=emb,
        features=torch.randn(n, c, *hw),
        feature_mask=torch.zeros(n, *hw, dtype=torch.bool),
        memory=torch.zeros(n, d, *hw),
    )


# --- pairs ---------------------------------------------------------------------------------------


def test_pairs_every_human_with_every_other_entity_image_by_image():
    box = [0.0, 0.0, 10.0, 10.0]
    det = detections(
        [
            [(box, 0.9, 0), (box, 0.8, 3), (box, 0.7, 0)],  # 2 humans, 1 object
            [(box, 0.9, 5), (box, 0.8, 7)],  # no human
            [(box, 0.9, 0)],  # a lone human
            [(box, 0.6, 2), (box, 0.5, 0)],  # human second
        ]
    )
    pairs = build_pairs(det, person_label=0)
    # global entity ids: image 0 -> 0, 1, 2; image 1 -> 3, 4; image 2 -> 5; image 3 -> 6, 7
    assert pairs.human_index.tolist() == [0, 0, 2, 2, 7]
    assert pairs.object_index.tolist() == [1, 2, 0, 1, 6]
    assert pairs.image_index.tolist() == [0, 0, 0, 0, 3]
    assert pairs.pairs_per_image() == [4, 0, 0, 1]
    assert pairs.boxes.shape == (5, 8) and pairs.tokens.shape == (5, 16)
    assert pairs.object_labels.tolist() == [3, 0, 0, 3, 2]
    assert torch.allclose(pairs.scores_h, torch.tensor([0.9, 0.9, 0.7, 0.7, 0.5]))


def test_pairs_of_empty_images():
    det = detections([[], []])
    pairs = build_pairs(det, person_label=0)
    assert len(pairs) == 0 and pairs.boxes.shape == (0, 8)


def test_association_min_iou_multi_label_and_same_image_only():
    h, o, far = [0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 20.0, 10.0], [50.0, 50.0, 60.0, 60.0]
    det = detections([[(h, 0.9, 0), (o, 0.9, 3), (far, 0.9, 3)], [(h, 0.9, 0), (o, 0.9, 3)]])
    pairs = build_pairs(det, person_label=0)  # image 0: (0,1), (0,2); image 1: (3,4)
    gt_h = [torch.tensor([h, h, [1.0, 1.0, 9.0, 9.0]]), torch.zeros(0, 4)]
    gt_o = [torch.tensor([o, o, o]), torch.zeros(0, 4)]
    # verbs 1 and 2 on the exact pair; verb 4 on a human box with IoU 0.64 >= 0.5
    gt_v = [torch.tensor([1, 2, 4]), torch.zeros(0, dtype=torch.int64)]
    m = associate_pairs(pairs, gt_h, gt_o, gt_v, num_verbs=5, iou_threshold=0.5)
    assert m.pair_index.tolist() == [0, 0, 0] and m.gt_index.tolist() == [0, 1, 2]
    assert m.labels.tolist() == [[0, 1, 1, 0, 1], [0] * 5, [0] * 5]  # image 1 has no GT
    m = associate_pairs(pairs, gt_h, gt_o, gt_v, num_verbs=5, iou_threshold=0.7)
    assert m.labels[0].tolist() == [0, 1, 1, 0, 0]


# --- spatial encoding -----------------------------------------------------------------------------


def test_spatial_features_hand_values():
    b1, b2 = torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([[10.0, 0.0, 20.0, 10.0]])
    f = box_pair_spatial_features(b1, b2, torch.tensor([[100.0, 200.0]]))  # h = 100, w = 200
    expected = [
        0.025,
        0.05,
        0.075,
        0.05,
        0.05,
        0.1,
        0.05,
        0.1,
        0.005,
        0.005,
        1,
        1,
        1,
        0,
        1,
        0,
        0,
        0,
    ]
    assert f.shape == (1, 36)
    assert torch.allclose(f[0, :18], torch.tensor(expected), atol=1e-6)
    assert torch.allclose(f[0, 18:], torch.log(f[0, :18] + 1e-10))
    # object to the left and below: the offsets switch to the other sign slots
    f = box_pair_spatial_features(
        b2, torch.tensor([[0.0, 20.0, 10.0, 30.0]]), torch.tensor([[100, 200]])
    )
    assert f[0, 14:18].tolist() == [0.0, 1.0, 2.0, 0.0]


def test_spatial_encoder_any_leading_shape():
    enc = BoxPairSpatialEncoder(hidden_dims=(8,), output_dim=6)
    boxes = torch.tensor([0.0, 0.0, 5.0, 5.0]).expand(2, 3, 3, 4)
    out = enc(boxes, boxes, torch.tensor([[20.0, 30.0], [40.0, 50.0]])[:, None, None, :])
    assert out.shape == (2, 3, 3, 6) and torch.isfinite(out).all() and (out >= 0).all()


# --- masked union pooling -------------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 32])
def test_masked_pool_zero_outside_both_boxes(stride):
    feats = torch.ones(1, 1, 8, 8)
    h = torch.tensor([[0.0, 0.0, 4.0, 4.0]]) * stride
    o = torch.tensor([[4.0, 4.0, 8.0, 8.0]]) * stride
    out = masked_union_pool(feats, h, o, torch.tensor([0]), spatial_scale=1.0 / stride, grid_size=8)
    # union 8x8, samples at 0.5 .. 7.5: 16 inside the human box, 16 inside the object box
    assert out.shape == (1, 1) and out.item() == pytest.approx(32 / 64)


def column_ramp(h, w, c=1):
    return torch.arange(w, dtype=torch.float32).expand(1, c, h, w).clone()


def test_masked_pool_at_the_map_border():
    feats = column_ramp(8, 8)  # value = column index
    h = torch.tensor([[4.0, 0.0, 8.0, 2.0]])
    o = torch.tensor([[6.0, 6.0, 8.0, 8.0]])
    out = masked_union_pool(feats, h, o, torch.tensor([0]), spatial_scale=1.0, grid_size=4)
    # union [4, 0, 8, 8]: x samples 4.5 .. 7.5 -> values 4, 5, 6, 7; y samples 1, 3, 5, 7.
    # human keeps row y=1 (4+5+6+7); object keeps y=7, x in {6.5, 7.5} (6+7): 35 / 16.
    assert out.item() == pytest.approx(35 / 16)


def test_masked_pool_tiny_boxes_inside_one_cell():
    feats = column_ramp(8, 8)
    h = torch.tensor([[2.2, 2.2, 2.6, 2.6]])
    o = torch.tensor([[2.4, 2.4, 2.8, 2.8]])
    out = masked_union_pool(feats, h, o, torch.tensor([0]), spatial_scale=1.0, grid_size=2)
    # samples at 2.35 / 2.65 per axis; kept: (2.35, 2.35) human -> 1.85, (2.65, 2.65) object ->
    # 2.15 (bilinear on the ramp is exact: value = x - 0.5); the two mixed samples are zeroed.
    assert out.item() == pytest.approx((1.85 + 2.15) / 4, abs=1e-6)


def sample_keep_mask(box_h, box_o, grid):
    """(G, G) bool [row, col]: which of the G x G sample points of the union box of one pair
    lie inside the human or the object box (pixel coordinates, edges included)."""
    union = union_boxes(box_h[None], box_o[None])[0]
    steps = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid
    xs = union[0] + steps * (union[2] - union[0])
    ys = union[1] + steps * (union[3] - union[1])
    keep = torch.zeros(grid, grid, dtype=torch.bool)
    for b in (box_h, box_o):
        in_x = (xs >= b[0]) & (xs <= b[2])
        in_y = (ys >= b[1]) & (ys <= b[3])
        keep |= in_y[:, None] & in_x[None, :]
    return keep


def sampled_masked_pool(features, boxes_h, boxes_o, image_index, valid_hw, scale, grid):
    """The masked pooling written out: torchvision's ``roi_align`` samples the G x G points of
    each union box on its image's valid cells alone, samples outside both boxes are zeroed, then
    averaged (the definition the fast weight-map implementation must reproduce)."""
    out = []
    for p in range(boxes_h.shape[0]):
        i = int(image_index[p])
        rows, cols = valid_hw[i].tolist()
        image = features[i : i + 1, :, :rows, :cols]
        union = union_boxes(boxes_h[p : p + 1], boxes_o[p : p + 1])
        roi = torch.cat([torch.zeros(1, 1), union], dim=1)
        samples = roi_align(image, roi, grid, spatial_scale=scale, sampling_ratio=1, aligned=True)
        keep = sample_keep_mask(boxes_h[p], boxes_o[p], grid)
        out.append((samples[0] * keep).mean(dim=(1, 2)))
    return torch.stack(out)


@pytest.mark.parametrize("seed", range(4))
def test_masked_pool_equals_sampled_roi_align_per_image(seed):
    """Random boxes, many beyond the map, some tiny, some sharing a row or column; pairs in a
    shuffled image order; padded maps with garbage on the padding."""
    g = torch.Generator().manual_seed(seed)
    stride, grid = 16, 14
    valid_hw = torch.tensor([[5, 7], [9, 11], [1, 3]])
    features = torch.full((3, 6, 9, 11), 1e3)  # garbage on padding
    for i, (r, c) in enumerate(valid_hw.tolist()):
        features[i, :, :r, :c] = torch.randn(6, r, c, generator=g)
    p = 40
    image_index = torch.randint(0, 3, (p,), generator=g)
    sizes = valid_hw[image_index].flip(1).repeat(1, 2).float() * stride  # (w, h, w, h) pixels

    def random_boxes():
        corners = torch.rand(p, 2, 2, generator=g) * 1.4 - 0.2  # up to 20% beyond each side
        xyxy = torch.cat([corners.min(dim=1).values, corners.max(dim=1).values], dim=1)
        return xyxy * sizes

    h, o = random_boxes(), random_boxes()
    o[:5] = h[:5] + 0.3  # tiny offsets: both boxes nearly coincide
    h[5:8, 2:] = h[5:8, :2] + 0.5  # boxes smaller than a cell
    features.requires_grad_(True)
    fast = masked_union_pool(
        features, h, o, image_index, spatial_scale=1 / stride, grid_size=grid, valid_hw=valid_hw
    )
    ref = sampled_masked_pool(features, h, o, image_index, valid_hw, 1 / stride, grid)
    assert fast.shape == (p, 6)
    assert torch.allclose(fast, ref, atol=1e-5, rtol=1e-5), (fast - ref).abs().max()
    # same gradient as ROIAlign's backward, and none reaches the padding
    upstream = torch.randn(p, 6, generator=g)
    (grad_fast,) = torch.autograd.grad((fast * upstream).sum(), features)
    (grad_ref,) = torch.autograd.grad((ref * upstream).sum(), features)
    assert torch.allclose(grad_fast, grad_ref, atol=1e-5)
    assert grad_fast[1, :, 9:].abs().sum() == 0 and grad_fast[0, :, 5:].abs().sum() == 0


def test_pool_weights_stay_float32_under_autocast():
    g = torch.Generator().manual_seed(0)
    corner = torch.rand(6, 2, generator=g) * 400
    h = torch.cat([corner, corner + 1 + torch.rand(6, 2, generator=g) * 350], dim=1)
    o = h.flip(0) + 3.0  # every box inside the 960 x 800 image
    kwargs = dict(map_hw=(25, 30), spatial_scale=1 / 32, grid_size=14)
    valid = torch.tensor([[25, 30]]).expand(6, 2)
    ref = union_pool_weights(h, o, valid, **kwargs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = union_pool_weights(h, o, valid, **kwargs)
    assert low.dtype == torch.float32 and torch.equal(low, ref)
    # inside the map the weights of a pair sum to the share of its samples inside either box
    share = torch.stack([sample_keep_mask(h[p], o[p], 14).float().mean() for p in range(6)])
    assert torch.allclose(ref.sum(dim=(1, 2)), share, atol=1e-5)
    assert (share > 0.05).all()


def test_masked_pool_ignores_padding():
    torch.manual_seed(0)
    valid = torch.randn(1, 3, 5, 7)
    padded = torch.full((2, 3, 9, 11), 100.0)  # garbage on padding
    padded[0, :, :5, :7] = valid[0]
    mask = torch.ones(2, 9, 11, dtype=torch.bool)
    mask[0, :5, :7] = False
    mask[1, :9, :11] = False
    assert valid_cells(mask).tolist() == [[5, 7], [9, 11]]
    # boxes reaching the right and bottom image edges (image 7 x 5 cells, stride 1)
    h = torch.tensor([[3.3, 1.0, 7.0, 5.0]])
    o = torch.tensor([[0.2, 3.9, 6.95, 4.99]])
    ref = masked_union_pool(valid, h, o, torch.tensor([0]), spatial_scale=1.0, grid_size=14)
    fixed = masked_union_pool(
        padded,
        h,
        o,
        torch.tensor([0]),
        spatial_scale=1.0,
        grid_size=14,
        valid_hw=valid_cells(mask),
    )
    raw = masked_union_pool(padded, h, o, torch.tensor([0]), spatial_scale=1.0, grid_size=14)
    assert torch.allclose(fixed, ref, atol=1e-5)
    assert not torch.allclose(raw, ref, atol=1e-2)  # without the valid sizes, padding leaks in


def test_ire_shapes_valid_pixels_only_and_no_pairs():
    torch.manual_seed(0)
    ire = InteractiveRelationEncoder(
        position_embedding=PositionEmbeddingSine(num_pos_feats=4),
        in_channels=6,
        embed_dim=8,
        num_heads=2,
        ffn_dim=16,
        output_dim=5,
        feature_stride=16,
    ).eval()
    feats = torch.randn(2, 6, 4, 5)
    mask = torch.zeros(2, 4, 5, dtype=torch.bool)
    mask[1, 2:] = True
    mask[1, :, 3:] = True
    boxes = torch.tensor([[0.0, 0.0, 30.0, 30.0], [10.0, 10.0, 40.0, 20.0]])
    m, g = ire(feats, mask, boxes, boxes.flip(0), torch.tensor([0, 1]))
    assert m.shape == (2, 5) and g.shape == (2, 5)
    # g^v of image 1 only sees its 2 x 3 valid cells: garbage in the padding changes nothing
    feats2 = feats.clone()
    feats2[1, :, 2:] = 1e3
    feats2[1, :, :, 3:] = 1e3
    m2, g2 = ire(feats2, mask, boxes, boxes.flip(0), torch.tensor([0, 1]))
    assert torch.allclose(g2, g, atol=1e-5) and torch.allclose(m2, m, atol=1e-4)
    m, g = ire(feats, mask, boxes[:0], boxes[:0], torch.zeros(0, dtype=torch.int64))
    assert m.shape == (0, 5) and g.shape == (2, 5)
    with pytest.raises(ValueError, match="position embedding"):
        InteractiveRelationEncoder(
            position_embedding=PositionEmbeddingSine(num_pos_feats=8), in_channels=6, embed_dim=8
        )


# --- attention and IRM ----------------------------------------------------------------------------


def test_pack_unpack_roundtrip_and_masked_rows_stay_finite():
    x = torch.arange(10.0).view(5, 2)
    group = torch.tensor([0, 0, 2, 2, 2])
    packed, pad = pack_sequences(x, group, 3)
    assert packed.shape == (3, 3, 2) and pad.tolist() == [
        [False, False, True],
        [True, True, True],
        [False, False, False],
    ]
    assert torch.equal(unpack_sequences(packed, pad), x)
    attn = MultiHeadAttention(embed_dim=2, num_heads=1)
    out = attn(packed, packed, packed, key_padding_mask=pad)
    assert torch.isfinite(out).all()  # image 1 has no element: its row is finite, ignored


@pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:FutureWarning")
def test_fused_attention_equals_the_explicit_traced_form():
    torch.manual_seed(0)
    attn = MultiHeadAttention(embed_dim=8, num_heads=2, key_dim=6).eval().requires_grad_(False)
    q, kv = torch.randn(3, 4, 8), torch.randn(3, 5, 6)
    pad = torch.tensor([[False] * 5, [False, False, True, True, True], [True] * 5])
    rows = torch.rand(3, 4, 5) > 0.5
    for kwargs in ({}, {"key_padding_mask": pad}, {"attn_mask": rows}):
        fused = attn(q, kv, kv, **kwargs)
        traced = torch.jit.trace(lambda a, b: attn(a, b, b, **kwargs), (q, kv), check_trace=False)
        explicit = traced(q, kv)
        assert torch.isfinite(fused).all()
        keep = ~(pad.all(1)) if "key_padding_mask" in kwargs else torch.ones(3, dtype=torch.bool)
        assert torch.allclose(fused[keep], explicit[keep], atol=1e-5)


def test_irm_pairs_attend_within_their_image_only():
    torch.manual_seed(0)
    b = [[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 20.0, 30.0], [2.0, 8.0, 12.0, 14.0]]
    det = detections([[(b[0], 0.9, 0), (b[1], 0.8, 1)], [(b[2], 0.9, 0), (b[0], 0.7, 2)]])
    pairs = build_pairs(det, person_label=0)
    irm = tiny_irm(context=0).eval()
    hw = torch.tensor([[40.0, 40.0], [40.0, 40.0]])
    feats, logits = irm(pairs, hw)
    assert feats.shape == (2, 16) and logits.shape == (2, 4)
    # changing image 1's entities leaves image 0's pair untouched
    det.embeddings[1] = torch.randn_like(det.embeddings[1])
    feats2, _ = irm(build_pairs(det, person_label=0), hw)
    assert torch.allclose(feats2[0], feats[0], atol=1e-5)
    assert not torch.allclose(feats2[1], feats[1], atol=1e-3)
    with pytest.raises(ValueError, match="global_dim"):
        irm(pairs, hw, torch.zeros(2, 6), None)


def test_irm_with_context_and_no_pairs():
    irm = tiny_irm(context=6).eval()
    det = detections([[([0.0, 0.0, 1.0, 1.0], 0.5, 3)], []])
    pairs = build_pairs(det, person_label=0)
    feats, logits = irm(
        pairs, torch.tensor([[10.0, 10.0]] * 2), torch.zeros(2, 6), torch.zeros(0, 6)
    )
    assert feats.shape == (0, 16) and logits.shape == (0, 4)


# --- losses ---------------------------------------------------------------------------------------


def upt_focal(logits, prior, labels, alpha=0.5, gamma=0.2, eps=1e-6):
    """UPT's formula, transcribed from its paper code for comparison."""
    x = torch.log(prior / (1 + torch.exp(-logits) - prior) + 1e-8)
    loss = (1 - labels - alpha).abs() * ((labels - torch.sigmoid(x)).abs() + eps) ** gamma
    loss = loss * F.binary_cross_entropy_with_logits(x, labels, reduction="none")
    return loss.sum() / labels.sum()


def test_focal_loss_matches_upt_and_is_zero_safe():
    torch.manual_seed(0)
    logits = torch.randn(50) * 3
    prior = torch.rand(50) * 0.9 + 0.05
    labels = (torch.rand(50) > 0.7).float()
    ours = product_score_focal_loss(logits, prior, labels)
    assert ours.item() == pytest.approx(upt_focal(logits, prior, labels).item(), rel=1e-4)
    # no positive: finite (normaliser clamped to 1); no entry at all: 0 with a graph
    zero_pos = product_score_focal_loss(logits, prior, torch.zeros(50))
    assert math.isfinite(zero_pos.item()) and zero_pos.item() > 0
    empty = torch.zeros(0, requires_grad=True)
    loss = product_score_focal_loss(empty, empty.detach(), empty.detach())
    loss.backward()
    assert loss.item() == 0.0 and empty.grad is not None
    # extreme logits do not overflow
    big = product_score_focal_loss(
        torch.tensor([-200.0, 200.0]), torch.tensor([0.5, 1.0]), torch.tensor([1.0, 0.0])
    )
    assert torch.isfinite(big)


def test_l1_distance_and_connected_zero():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])
    assert l1_distance(a, b).item() == pytest.approx(1.5)
    w = torch.nn.Linear(2, 2)
    z = connected_zero(w.parameters())
    z.backward()
    assert z.item() == 0 and torch.equal(w.weight.grad, torch.zeros(2, 2))
    with pytest.raises(ValueError):
        l1_distance(a, b.T)
