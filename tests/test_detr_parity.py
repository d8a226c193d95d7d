"""Numerical parity of our DETR with Hugging Face's and with torchvision's ResNet (official DETR's
backbone), through the weight converter, on batches of differently sized (padded) images."""

import os
import re

import pytest
import torch
import torchvision
from detr_helpers import (
    BLOCKS,
    QUERIES,
    build_hf_detr,
    build_tiny_detector,
    random_images,
    randomize_state_,
)
from script_loader import load_script
from torchvision.ops.misc import FrozenBatchNorm2d

from rmlr.modeling.entity_detection.detr import padding_mask
from rmlr.modeling.entity_detection.detr_backbone import build_detr_resnet
from rmlr.modeling.entity_detection.detr_weights import (
    COCO_80_CATEGORY_IDS,
    OFFICIAL_TO_RMLR,
    _rename,
    convert_state,
    export_state,
    load_detector_checkpoint,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = 1e-4
# Two images of different sizes: the batch is padded to 160 x 192 and each image has padding.
SIZES = [(160, 120), (112, 192)]
HF_ROWS = list(COCO_80_CATEGORY_IDS) + [91]  # HF/official head rows of our 81 classes


def _run_both(model, hf, images):
    with torch.no_grad():
        batch = model.preprocess_image([{"image": im} for im in images])
        ours = model.detr(batch)
        pixel_mask = (~padding_mask(batch)).long()
        theirs = hf(pixel_values=batch.tensor, pixel_mask=pixel_mask)
    return ours, theirs


def _max_diffs(ours, theirs):
    return {
        "logits": (ours["pred_logits"] - theirs.logits[..., HF_ROWS]).abs().max().item(),
        "boxes": (ours["pred_boxes"] - theirs.pred_boxes).abs().max().item(),
        "decoder": (ours["embeddings"] - theirs.last_hidden_state).abs().max().item(),
    }


@pytest.fixture(scope="module")
def hf_model():
    return build_hf_detr(seed=0)


def test_hf_parity_through_the_tool(hf_model, tmp_path, capsys):
    from safetensors.torch import save_file

    src = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf_model.state_dict().items()}, str(src))
    out = tmp_path / "converted.pth"
    assert (
        load_script("tools/convert_detr_weights.py").main(
            ["--format", "hf", "--quiet", str(tmp_path), str(out)]
        )
        == 0
    )

    model = build_tiny_detector().eval()
    load_detector_checkpoint(model, str(out))
    images = random_images(SIZES, seed=1)
    ours, theirs = _run_both(model, hf_model, images)

    batch = model.preprocess_image([{"image": im} for im in images])
    assert batch.tensor.shape[-2:] == (160, 192)
    assert ours["feature_mask"][0].any() and ours["feature_mask"][1].any()  # both padded
    diffs = _max_diffs(ours, theirs)
    print("HF parity max abs diff:", diffs)
    assert max(diffs.values()) <= TOL, diffs
    # The outputs are not degenerate: queries differ from each other.
    assert ours["embeddings"].std(dim=1).mean() > 0.05
    assert ours["pred_boxes"].std(dim=1).mean() > 1e-3


def test_hf_hub_layout_converts_like_the_current_layout(hf_model):
    """facebook/detr-resnet-50's file layout: timm backbone under ``backbone.conv_encoder``,
    ``out_proj``, ``fc1``/``fc2`` and BN counters. It must give the same weights."""
    current = dict(hf_model.state_dict())
    official = export_state(convert_state(current, "hf"), "official")["model"]
    hub = {}
    for key, value in current.items():
        if key.startswith("model.backbone.model."):
            continue
        key = key.replace("o_proj", "out_proj").replace("mlp.fc", "fc")
        hub[key] = value
    for key, value in official.items():
        if key.startswith("backbone.0.body."):
            hub["model.backbone.conv_encoder.model." + key[len("backbone.0.body.") :]] = value
    hub["model.backbone.conv_encoder.model.layer1.0.downsample.1.num_batches_tracked"] = (
        torch.tensor(0)
    )
    a, b = convert_state(current, "hf"), convert_state(hub, "hf")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_export_to_hf_loads_into_transformers_strictly(hf_model):
    ours = convert_state(dict(hf_model.state_dict()), "hf")
    fresh = build_hf_detr(seed=5)
    fresh.load_state_dict(export_state(ours, "hf"), strict=True)
    images = random_images(SIZES, seed=2)
    model = build_tiny_detector().eval()
    model.load_state_dict(ours)
    assert max(_max_diffs(*_run_both(model, fresh, images)).values()) <= TOL


@pytest.mark.parametrize("dc5", [False, True])
def test_torchvision_backbone_parity_with_official_names(dc5):
    """Official DETR runs torchvision's ResNet with frozen BN (DC5: replace_stride_with_dilation);
    its weights, renamed by the official table, give the same C5 map in our Detectron2 ResNet."""
    torch.manual_seed(0)
    tv = torchvision.models.resnet.ResNet(
        torchvision.models.resnet.Bottleneck,
        list(BLOCKS),
        norm_layer=FrozenBatchNorm2d,
        replace_stride_with_dilation=[False, False, dc5],
    ).eval()
    state = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    randomize_state_(state, seed=3)
    official = {"backbone.0.body." + k: v for k, v in state.items()}
    ours = _rename(official, OFFICIAL_TO_RMLR, reverse=False, what="test")
    backbone = build_detr_resnet(num_blocks_per_stage=BLOCKS, dc5=dc5).eval()
    backbone.load_state_dict({re.sub(r"^detr\.backbone\.", "", k): v for k, v in ours.items()})

    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        body = torch.nn.Sequential(*list(tv.children())[:-2])
        expected, actual = body(x), backbone(x)["res5"]
    assert actual.shape == expected.shape == (2, 2048, 4 if dc5 else 2, 6 if dc5 else 3)
    scale = expected.abs().max()
    assert (actual - expected).abs().max() <= 1e-5 * scale


def test_batching_does_not_mix_images():
    """Guard against a batch/query transpose: one image alone and the same image in a batch
    whose other image is smaller (no padding for the first) give the same outputs."""
    model = build_tiny_detector().eval()
    randomize_state_(model.state_dict(), seed=4)
    big, small = random_images([(128, 160), (96, 96)], seed=5)
    with torch.no_grad():
        alone = model.detr(model.preprocess_image([{"image": big}]))
        paired = model.detr(model.preprocess_image([{"image": big}, {"image": small}]))
    assert QUERIES == alone["pred_logits"].shape[1]
    for key in ("pred_logits", "pred_boxes", "embeddings"):
        assert (alone[key][0] - paired[key][0]).abs().max() <= TOL
