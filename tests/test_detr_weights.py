"""The DETR weight converter: complete rename tables, class-head remap, round trips, strict
loading through Detectron2's checkpointer and configs, and errors that name the key or path."""

import argparse
import logging
import os

import pytest
import torch
import torchvision
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES
from detr_helpers import build_hf_detr, build_tiny_detector, randomize_state_
from script_loader import load_script
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from rmlr.modeling.entity_detection.detr_weights import (
    COCO_80_CATEGORY_IDS,
    WeightConversionError,
    convert_checkpoint,
    convert_state,
    export_state,
    load_detector_checkpoint,
    save_checkpoint,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "projects", "RmLR", "configs")


def _official_reference_shapes(depth: int):
    """Key -> shape of an official DETR checkpoint, from independent sources: torchvision's
    ResNet (DETR's backbone) and torch.nn's transformer layers (DETR's layer names are theirs)."""
    with torch.device("meta"):
        resnet = getattr(torchvision.models, f"resnet{depth}")(norm_layer=FrozenBatchNorm2d)
        enc = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(256, 8, 2048), 6, enable_nested_tensor=False
        )
        dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(256, 8, 2048), 6, nn.LayerNorm(256))
    shapes = {
        "backbone.0.body." + k: v.shape
        for k, v in resnet.state_dict().items()
        if not k.startswith("fc.")
    }
    shapes.update({"transformer.encoder." + k: v.shape for k, v in enc.state_dict().items()})
    shapes.update({"transformer.decoder." + k: v.shape for k, v in dec.state_dict().items()})
    shapes.update(
        {
            "class_embed.weight": (92, 256),
            "class_embed.bias": (92,),
            "query_embed.weight": (100, 256),
            "input_proj.weight": (256, 2048, 1, 1),
            "input_proj.bias": (256,),
        }
    )
    for i, (n_out, n_in) in enumerate([(256, 256), (256, 256), (4, 256)]):
        shapes[f"bbox_embed.layers.{i}.weight"] = (n_out, n_in)
        shapes[f"bbox_embed.layers.{i}.bias"] = (n_out,)
    return {k: torch.Size(v) for k, v in shapes.items()}


@pytest.mark.parametrize("depth,config", [(50, "detr_r50.py"), (101, "detr_r101.py")])
def test_official_rename_table_is_complete_both_ways(depth, config):
    reference = _official_reference_shapes(depth)
    official = {k: torch.empty(s, device="meta") for k, s in reference.items()}
    ours = convert_state({"model": official}, "official")

    cfg = LazyConfig.load(os.path.join(CONFIGS, "detr", config))
    with torch.device("meta"):
        model = instantiate(cfg.model)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in ours.items()} == expected

    back = export_state(ours, "official")["model"]
    assert {k: v.shape for k, v in back.items()} == reference


def test_class_head_is_remapped_to_contiguous_coco80():
    model = build_tiny_detector()
    official = export_state(model.state_dict(), "official")["model"]
    # Tag each official row with its COCO id.
    official["class_embed.bias"] = torch.arange(92, dtype=torch.float32)
    official["class_embed.weight"] = torch.arange(92, dtype=torch.float32)[:, None].repeat(1, 64)
    ours = convert_state({"model": official}, "official")
    bias = ours["detr.class_embed.bias"]
    names = [c["name"] for c in COCO_CATEGORIES if c["isthing"]]
    assert bias.shape == (81,) and bias[-1] == 91  # no-object last
    assert bias[names.index("person")] == 1 and names.index("person") == 0
    assert bias[names.index("dining table")] == 67
    assert bias[names.index("toothbrush")] == 90 and names.index("toothbrush") == 79
    assert bias[:80].tolist() == list(COCO_80_CATEGORY_IDS)
    assert torch.equal(ours["detr.class_embed.weight"][:, 0], bias)


@pytest.mark.parametrize("fmt", ["official", "upt", "hf"])
def test_round_trips(fmt):
    model = build_tiny_detector()
    randomize_state_(model.state_dict(), seed=0)
    ours = model.state_dict()
    exported = export_state(ours, fmt)
    back = convert_state(exported, fmt)
    assert back.keys() == ours.keys()
    assert all(torch.equal(back[k], ours[k]) for k in ours)

    again = export_state(back, fmt)  # layout -> ours -> layout: identical
    flat, flat_again = (x if fmt == "hf" else next(iter(x.values())) for x in (exported, again))
    assert flat.keys() == flat_again.keys()
    assert all(torch.equal(flat[k], flat_again[k]) for k in flat)


def test_hf_layout_from_transformers_round_trips_on_used_rows():
    hf = dict(build_hf_detr(seed=1).state_dict())
    back = export_state(convert_state(hf, "hf"), "hf")
    assert back.keys() == hf.keys()
    rows = list(COCO_80_CATEGORY_IDS) + [91]
    for key, value in hf.items():
        if key.startswith("class_labels_classifier"):
            assert torch.equal(back[key][rows], value[rows])
        else:
            assert torch.equal(back[key], value), key


@pytest.fixture
def official_state():
    model = build_tiny_detector()
    randomize_state_(model.state_dict(), seed=2)
    return export_state(model.state_dict(), "official")["model"]


def test_missing_key_is_named(official_state):
    del official_state["transformer.decoder.layers.1.norm3.bias"]
    with pytest.raises(
        WeightConversionError, match=r"detr\.transformer\.decoder\.layers\.1\.norm3"
    ):
        convert_state({"model": official_state}, "official")


def test_unmapped_and_unexpected_keys_are_named(official_state):
    official_state["backbone.0.body.fc.weight"] = torch.zeros(10, 256)
    with pytest.raises(
        WeightConversionError, match=r"unmapped key 'backbone\.0\.body\.fc\.weight'"
    ):
        convert_state({"model": official_state}, "official")
    del official_state["backbone.0.body.fc.weight"]
    official_state["transformer.encoder.layers.0.extra.weight"] = torch.zeros(3)
    with pytest.raises(WeightConversionError, match=r"unexpected.*layers\.0\.extra\.weight"):
        convert_state({"model": official_state}, "official")


def test_wrong_shape_is_named(official_state):
    official_state["transformer.encoder.layers.1.linear1.weight"] = torch.zeros(64, 64)
    with pytest.raises(WeightConversionError, match=r"wrong shape.*encoder\.layers\.1\.linear1"):
        convert_state({"model": official_state}, "official")


def test_wrong_class_count_and_wrapper_are_errors(official_state):
    upt_like = {k: v[:81] if k.startswith("class_embed") else v for k, v in official_state.items()}
    with pytest.raises(WeightConversionError, match=r"class_embed\.weight' has 81 classes"):
        convert_state({"model": upt_like}, "official")
    with pytest.raises(WeightConversionError, match=r"class_embed\.weight' has 92 classes"):
        convert_state({"model_state_dict": official_state}, "upt")
    with pytest.raises(WeightConversionError, match="no 'model_state_dict' entry"):
        convert_state({"model": upt_like}, "upt")


def test_hf_missing_projection_is_named():
    hf = dict(build_hf_detr(seed=3).state_dict())
    del hf["model.decoder.layers.0.encoder_attn.v_proj.bias"]
    with pytest.raises(WeightConversionError, match=r"\['v'\].*decoder\.layers\.0\.encoder_attn"):
        convert_state(hf, "hf")


class _NotATensor:
    """Pickled by reference: loading it needs code execution, which weights_only refuses."""


def test_files_are_read_safely_and_missing_files_named(tmp_path, official_state):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        convert_checkpoint(str(missing), "official")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_detector_checkpoint(build_tiny_detector(), str(missing))

    unsafe = tmp_path / "unsafe.pth"
    torch.save({"model": official_state, "extra": _NotATensor()}, unsafe)
    with pytest.raises(WeightConversionError, match="unsafe.pth.*weights_only=True"):
        convert_checkpoint(str(unsafe), "official")

    # Official DETR checkpoints carry their argparse.Namespace: that one type is allowed.
    with_args = tmp_path / "detr.pth"
    torch.save({"model": official_state, "args": argparse.Namespace(lr=1e-4)}, with_args)
    assert len(convert_checkpoint(str(with_args), "official")) == len(official_state)


def test_tool_logs_every_mapping_and_output_loads_through_d2_and_configs(
    tmp_path, caplog, official_state
):
    src, out = tmp_path / "detr.pth", tmp_path / "converted.pth"
    torch.save({"model": official_state}, src)
    tool = load_script("tools/convert_detr_weights.py")
    with caplog.at_level(logging.INFO):
        assert tool.main(["--format", "official", str(src), str(out)]) == 0
    text = caplog.text
    assert "backbone.0.body.conv1.weight -> detr.backbone.stem.conv1.weight" in text
    assert "backbone.0.body.layer3.0.downsample.1.running_var -> " in text
    assert "detr.backbone.res4.0.shortcut.norm.running_var" in text
    assert "class head rows" in text
    assert sum("official -> rmlr:" in r.message for r in caplog.records) >= len(official_state)

    # Detectron2's checkpointer, directly and through a config's train.init_checkpoint.
    cfg = LazyConfig.load(os.path.join(CONFIGS, "detr", "detr_tiny_synthetic.py"))
    cfg.model.detr.backbone.update(dc5=False, norm="FrozenBN", freeze_at=2)  # DETR's backbone
    cfg.model.detr.num_queries = 12
    cfg.train.init_checkpoint = str(out)
    model = instantiate(cfg.model)
    checkpointer = DetectionCheckpointer(model)
    incompatible = checkpointer._load_model(checkpointer._load_file(cfg.train.init_checkpoint))
    assert not incompatible.missing_keys and not incompatible.unexpected_keys
    assert not incompatible.incorrect_shapes
    DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
    expected = convert_state({"model": official_state}, "official")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())

    # A missing file or a wrong layout: exit code 1 and an error naming it.
    with caplog.at_level(logging.ERROR):
        assert tool.main(["--format", "upt", str(src), str(tmp_path / "x.pth")]) == 1
        assert tool.main(["--format", "hf", str(tmp_path / "none"), str(tmp_path / "x.pth")]) == 1
    assert "no 'model_state_dict' entry" in caplog.text and "none" in caplog.text
    assert not (tmp_path / "x.pth").exists()


def test_detector_refuses_an_incomplete_checkpoint_through_d2(tmp_path):
    model = build_tiny_detector()
    state = dict(model.state_dict())
    del state["detr.query_embed.weight"]
    path = tmp_path / "partial.pth"
    save_checkpoint(state, str(path))
    with pytest.raises(RuntimeError, match=r"detr\.query_embed\.weight"):
        DetectionCheckpointer(model).load(str(path))
    with pytest.raises(WeightConversionError, match=r"partial\.pth.*detr\.query_embed\.weight"):
        load_detector_checkpoint(model, str(path))
    lenient = build_tiny_detector()
    lenient.strict_checkpoint = False
    DetectionCheckpointer(lenient).load(str(path))  # logs the missing key, does not raise
