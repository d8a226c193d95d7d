"""The IRE's inference formulation (1x1 projection as one product on the channel-major map, no
mask without padding, last encoder layer only at the cells the pair weight maps read, pooling as
one product) gives the values of the original formulation, written out here: the projection on
the transposed tokens, every layer on every cell, and ROIAlign-style sampled masked pooling."""

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from test_model_components import sampled_masked_pool

import rmlr  # noqa: F401
from rmlr.modeling.interactive_relation_encoder import union_pool_weights, valid_cells
from rmlr.utils.cost import count_macs, fixed_detections

R50 = "projects/RmLR/configs/rmlr/rmlr_r50_hico_det.py"


def reference_ire(ire, features, padding_mask, boxes_h, boxes_o, image_index):
    """The formulation before issue 17 (dropout off)."""
    n, _, h, w = features.shape
    tokens = ire.input_proj(features.flatten(2).transpose(1, 2))
    pos = ire.position_embedding(padding_mask).flatten(2).transpose(1, 2)
    mask = padding_mask.flatten(1)
    for layer in ire.layers:
        qk = tokens + pos
        x = layer.norm1(tokens + layer.attention(qk, qk, tokens, mask))
        tokens = layer.norm2(x + layer.ffn(x))
    encoded = tokens.transpose(1, 2).reshape(n, -1, h, w)
    valid = valid_cells(padding_mask)
    pooled = sampled_masked_pool(
        encoded, boxes_h, boxes_o, image_index, valid, ire.spatial_scale, ire.grid_size
    )
    return ire.pair_fc(pooled), ire.global_context(features, padding_mask)


@pytest.fixture(scope="module")
def ire():
    torch.manual_seed(0)
    return instantiate(LazyConfig.load(R50).model.ire).eval()


def pinned_pairs(size=800.0, humans=5, objects=8):
    """The benchmark's 5 persons + 8 objects (60 pairs), boxes in pixels."""
    _, boxes = fixed_detections(100, 80, humans, objects)
    b = torch.sigmoid(boxes[0, 0, : humans + objects])
    xyxy = torch.cat([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], dim=1) * size
    pairs = [(i, j) for i in range(humans) for j in range(humans + objects) if j != i]
    h, o = zip(*pairs)
    return xyxy[list(h)], xyxy[list(o)]


def test_one_image_800px_60_pairs_equals_the_original(ire):
    g = torch.Generator().manual_seed(1)
    features = torch.relu(torch.randn(1, 2048, 25, 25, generator=g))
    mask = torch.zeros(1, 25, 25, dtype=torch.bool)
    h, o = pinned_pairs()
    index = torch.zeros(h.shape[0], dtype=torch.int64)
    weights = union_pool_weights(
        h, o, valid_cells(mask)[index], map_hw=(25, 25), spatial_scale=1 / 32, grid_size=14
    )
    read = weights.flatten(1).ne(0).any(0)
    assert 0 < read.sum() < read.numel()  # the last layer runs on a subset of the cells
    with torch.no_grad():
        m, g_v = ire(features, mask, h, o, index)
        m_ref, g_ref = reference_ire(ire, features, mask, h, o, index)
    assert m.shape == (60, 512) and g_v.shape == (1, 512)
    torch.testing.assert_close(m, m_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_v, g_ref, rtol=1e-5, atol=1e-5)


def test_padded_batch_equals_the_original(ire):
    g = torch.Generator().manual_seed(2)
    valid_hw = torch.tensor([[25, 25], [19, 25], [25, 14]])
    features = torch.zeros(3, 2048, 25, 25)
    mask = torch.ones(3, 25, 25, dtype=torch.bool)
    for i, (r, c) in enumerate(valid_hw.tolist()):
        features[i, :, :r, :c] = torch.relu(torch.randn(2048, r, c, generator=g))
        mask[i, :r, :c] = False
    p = 30
    index = torch.randint(0, 3, (p,), generator=g)
    sizes = valid_hw[index].flip(1).repeat(1, 2).float() * 32
    corners = torch.rand(2, p, 2, 2, generator=g) * 0.6  # small boxes: many cells unread
    corners[..., 1, :] += 0.1 + torch.rand(2, p, 2, generator=g) * 0.3
    h, o = (torch.cat([c[:, 0], c[:, 1]], dim=1) * sizes for c in corners)
    with torch.no_grad():
        m, g_v = ire(features, mask, h, o, index)
        m_ref, g_ref = reference_ire(ire, features, mask, h, o, index)
    torch.testing.assert_close(m, m_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_v, g_ref, rtol=1e-5, atol=1e-5)


def test_training_keeps_the_whole_map_and_its_gradients(ire):
    """In training (here with dropout off) the full map is encoded: same values and gradients."""
    torch.manual_seed(0)
    cfg = LazyConfig.load(R50).model.ire
    cfg.dropout = 0.0
    train_ire = instantiate(cfg).train()
    g = torch.Generator().manual_seed(3)
    features = torch.relu(torch.randn(1, 2048, 25, 25, generator=g))
    mask = torch.zeros(1, 25, 25, dtype=torch.bool)
    h, o = pinned_pairs()
    index = torch.zeros(h.shape[0], dtype=torch.int64)
    m, _ = train_ire(features, mask, h, o, index)
    m_ref, _ = reference_ire(train_ire, features, mask, h, o, index)
    torch.testing.assert_close(m, m_ref, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(m.sum(), list(train_ire.layers[-1].parameters()))
    grads_ref = torch.autograd.grad(m_ref.sum(), list(train_ire.layers[-1].parameters()))
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_macs_count_every_product(ire):
    """fvcore's count of the IRE at 800 px with the 60 pinned pairs equals the products written
    out (the projection's ``baddbmm`` included), the last layer's queries at the 449 read cells."""
    g = torch.Generator().manual_seed(4)
    features = torch.relu(torch.randn(1, 2048, 25, 25, generator=g))
    mask = torch.zeros(1, 25, 25, dtype=torch.bool)
    h, o = pinned_pairs()
    index = torch.zeros(h.shape[0], dtype=torch.int64)
    with torch.no_grad():
        macs = count_macs(ire, (features, mask, h, o, index))
    L, M, E, F, C, P, O = 625, 449, 128, 512, 2048, 60, 512
    written = (
        L * C * E  # 1x1 projection
        + (4 * L * E * E + L * L * 2 * E + 2 * L * E * F)  # layer 1
        + (2 * L * E * E + 2 * M * E * E + M * L * 2 * E + 2 * M * E * F)  # layer 2, M queries
        + P * M * E  # pooling
        + P * E * O  # pair_fc
        + C * L
        + C * O  # g^v: masked mean, global_fc
    )
    assert abs(macs - written) / written < 0.01, (macs, written)
