"""DETR checkpoint conversion to :class:`~rmlr.modeling.entity_detection.detr.DETRDetector`, and strict loading.

Shape shorthand (used in every modeling file of this package):
    N: images in the batch        R_i: entities kept for image i      D: decoder width (256)
    C: backbone C5 channels       h, w: C5 height and width           Q: DETR queries
    P: human-object pairs         V: verb classes                     K: object classes (80)

Three input layouts (``FORMATS``), all converted to one output: ``{"model": state_dict}`` whose
keys are exactly those of ``DETRDetector.state_dict()`` with an 80 + 1 class head.

* ``official``: facebookresearch/detr ``{"model": ...}``; torchvision backbone names
  (``backbone.0.body.layer1.0.bn1.weight``), class head of 92 rows (COCO ids 0..90, unused ids
  included, + no-object at 91), remapped to the 80 contiguous COCO classes + no-object.
* ``upt``: UPT's fine-tuned DETR ``{"model_state_dict": ...}``; official names, 81 rows already.
* ``hf``: Hugging Face ``DetrForObjectDetection`` (safetensors or torch file, or a folder holding
  one); the hub layout (``facebook/detr-resnet-50``: timm backbone under ``backbone.conv_encoder``,
  ``out_proj``, ``fc1``) and the layout of recent ``transformers`` (``o_proj``, ``mlp.fc1``, its
  own ResNet under ``backbone.model.embedder`` / ``encoder.stages``) are both read. Separate q/k/v
  projections are concatenated into ``in_proj_weight`` (q, k, v order, as PyTorch's attention).

Inputs are renamed to the official layout, then to ours, by tables of template pairs (each
direction the exact inverse of the other; the exports use the reverse). Every rename is logged;
a key matching no rule is an error; ``num_batches_tracked`` is dropped; the result must have
exactly the keys and shapes of the detector the weights describe (built on the meta device).
Files are read by :func:`rmlr.checkpoint.read_checkpoint` (``weights_only=True`` plus
``argparse.Namespace``, official DETR's ``args``; local paths and URLs).
Idea from https://github.com/facebookresearch/detr/blob/main/d2/converter.py
"""

import logging
import os
import re
from collections import OrderedDict
from typing import Dict, List, Mapping

import torch
from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

from ...checkpoint import CheckpointError, atomic_write, file_sha256, read_checkpoint
from .detr import DETR, DETRDetector
from .detr_backbone import build_detr_resnet
from .detr_transformer import DETRTransformer
from .position_encoding import PositionEmbeddingSine

__all__ = [
    "WeightConversionError",
    "FORMATS",
    "COCO_80_CATEGORY_IDS",
    "convert_checkpoint",
    "convert_state",
    "save_checkpoint",
    "load_checkpoint_file",
    "load_detector_checkpoint",
    "export_state",
    "validate_detector_state",
]

logger = logging.getLogger(__name__)


class WeightConversionError(ValueError):
    """A checkpoint that does not convert or load exactly; the message names the key or path."""


FORMATS = ("official", "upt", "hf")
# COCO category id of each contiguous COCO-80 class (person = 1 -> 0, ..., toothbrush = 90 -> 79).
COCO_80_CATEGORY_IDS = tuple(c["id"] for c in COCO_CATEGORIES if c["isthing"])
OFFICIAL_CLASS_ROWS = 92  # ids 0..90 + no-object (91)
CLASS_ROWS = len(COCO_80_CATEGORY_IDS) + 1  # 80 classes + no-object (80)
# Official head rows taken, in order, for the 81 rows of ours.
_OFFICIAL_ROWS = COCO_80_CATEGORY_IDS + (OFFICIAL_CLASS_ROWS - 1,)
# Official rows of no COCO class get these values on export, so they are never predicted.
_UNUSED_ROW_BIAS = -1.0e4

_BN = r"(?:weight|bias|running_mean|running_var)"
_TV_RESNET = (
    rf"(?:conv1\.weight|bn1\.{_BN}|layer[1-4]\.\d+\."
    rf"(?:conv[1-3]\.weight|bn[1-3]\.{_BN}|downsample\.0\.weight|downsample\.1\.{_BN}))"
)
# Placeholders of the key templates: block / layer indices, conv number, stack, BN field ...
_PLACEHOLDERS = dict(b=r"\d+", i=r"\d+", j=r"[1-3]", s=r"encoder|decoder", f=_BN, p=r"weight|bias")
_PLACEHOLDERS.update(rest=r".+", tv=_TV_RESNET)


class Rule:
    """A rename between two key templates: ``{name}`` placeholders (patterns in
    ``_PLACEHOLDERS``) are copied from the matched key into the other template."""

    def __init__(self, left: str, right: str, reversible: bool = True):
        self.left, self.right, self.reversible = left, right, reversible
        self._regex = {False: self._compile(left), True: self._compile(right)}

    @staticmethod
    def _compile(template: str) -> "re.Pattern":
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(
            re.escape(p) if k % 2 == 0 else f"(?P<{p}>{_PLACEHOLDERS[p]})"
            for k, p in enumerate(parts)
        )
        return re.compile(regex)

    def apply(self, key: str, reverse: bool = False):
        """The renamed key, or None when ``key`` does not match this rule."""
        if reverse and not self.reversible:
            return None
        m = self._regex[reverse].fullmatch(key)
        return None if m is None else (self.left if reverse else self.right).format(**m.groupdict())


def _official_rmlr_rules() -> List[Rule]:
    """official (torchvision backbone + DETR names) <-> ours (Detectron2 ResNet + ``detr.``)."""
    tv, d2 = "backbone.0.body.", "detr.backbone."
    rules = [
        Rule(tv + "conv1.weight", d2 + "stem.conv1.weight"),
        Rule(tv + "bn1.{f}", d2 + "stem.conv1.norm.{f}"),
    ]
    for layer in range(1, 5):
        a, b = f"{tv}layer{layer}.{{b}}.", f"{d2}res{layer + 1}.{{b}}."
        rules += [
            Rule(a + "conv{j}.weight", b + "conv{j}.weight"),
            Rule(a + "bn{j}.{f}", b + "conv{j}.norm.{f}"),
            Rule(a + "downsample.0.weight", b + "shortcut.weight"),
            Rule(a + "downsample.1.{f}", b + "shortcut.norm.{f}"),
        ]
    rules += [
        Rule("transformer.{rest}", "detr.transformer.{rest}"),
        Rule("query_embed.weight", "detr.query_embed.weight"),
        Rule("input_proj.{p}", "detr.input_proj.{p}"),
        Rule("class_embed.{p}", "detr.class_embed.{p}"),
        Rule("bbox_embed.layers.{i}.{p}", "detr.bbox_embed.layers.{i}.{p}"),
    ]
    return rules


def _hf_official_rules() -> List[Rule]:
    """Hugging Face (left) <-> official (right), q/k/v projections excepted. The reversible
    rules give the layout of the installed ``transformers`` with its own ResNet; the others are
    import-only aliases (hub layout with a timm backbone, older attribute names)."""
    hf, tv = "model.backbone.model.", "backbone.0.body."
    rules = [
        Rule(hf + "embedder.embedder.convolution.weight", tv + "conv1.weight"),
        Rule(hf + "embedder.embedder.normalization.{f}", tv + "bn1.{f}"),
    ]
    for stage in range(4):
        a, b = f"{hf}encoder.stages.{stage}.layers.{{b}}.", f"{tv}layer{stage + 1}.{{b}}."
        rules += [
            Rule(a + "shortcut.convolution.weight", b + "downsample.0.weight"),
            Rule(a + "shortcut.normalization.{f}", b + "downsample.1.{f}"),
        ]
        for conv in range(3):
            rules += [
                Rule(a + f"layer.{conv}.convolution.weight", b + f"conv{conv + 1}.weight"),
                Rule(a + f"layer.{conv}.normalization.{{f}}", b + f"bn{conv + 1}.{{f}}"),
            ]
    hl, tl = "model.{s}.layers.{i}.", "transformer.{s}.layers.{i}."
    he, te = "model.encoder.layers.{i}.", "transformer.encoder.layers.{i}."
    hd, td = "model.decoder.layers.{i}.", "transformer.decoder.layers.{i}."
    layer_rules = [
        Rule(hl + "self_attn.o_proj.{p}", tl + "self_attn.out_proj.{p}"),
        Rule(hd + "encoder_attn.o_proj.{p}", td + "multihead_attn.out_proj.{p}"),
        Rule(hl + "self_attn_layer_norm.{p}", tl + "norm1.{p}"),
        Rule(hd + "encoder_attn_layer_norm.{p}", td + "norm2.{p}"),
        Rule(he + "final_layer_norm.{p}", te + "norm2.{p}"),
        Rule(hd + "final_layer_norm.{p}", td + "norm3.{p}"),
        Rule(hl + "mlp.fc1.{p}", tl + "linear1.{p}"),
        Rule(hl + "mlp.fc2.{p}", tl + "linear2.{p}"),
    ]
    rules += layer_rules + [
        Rule("model.input_projection.{p}", "input_proj.{p}"),
        Rule("model.query_position_embeddings.weight", "query_embed.weight"),
        Rule("model.decoder.layernorm.{p}", "transformer.decoder.norm.{p}"),
        Rule("class_labels_classifier.{p}", "class_embed.{p}"),
        Rule("bbox_predictor.layers.{i}.{p}", "bbox_embed.layers.{i}.{p}"),
        # import-only aliases: the hub layout (transformers 4.x names, timm backbone)
        Rule("model.backbone.conv_encoder.model.{tv}", tv + "{tv}", reversible=False),
        Rule(hf + "{tv}", tv + "{tv}", reversible=False),
    ]
    for r in layer_rules:
        old = r.left.replace("o_proj", "out_proj").replace("mlp.fc", "fc")
        if old != r.left:
            rules.append(Rule(old, r.right, reversible=False))
    return rules


OFFICIAL_TO_RMLR = _official_rmlr_rules()
HF_TO_OFFICIAL = _hf_official_rules()
# Hugging Face's separate q/k/v projections of one attention <-> PyTorch's packed in_proj.
_HF_QKV = re.compile(
    r"model\.(?P<s>encoder|decoder)\.layers\.(?P<i>\d+)\.(?P<attn>self_attn|encoder_attn)"
    r"\.(?P<qkv>[qkv])_proj\.(?P<p>weight|bias)"
)
_IN_PROJ = re.compile(
    r"transformer\.(?P<s>encoder|decoder)\.layers\.(?P<i>\d+)\.(?P<attn>self_attn|multihead_attn)"
    r"\.in_proj_(?P<p>weight|bias)"
)
_ATTN_NAMES = {"self_attn": "self_attn", "encoder_attn": "multihead_attn"}


def _rename(state: Mapping, rules: List[Rule], reverse: bool, what: str) -> Dict:
    out = OrderedDict()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            logger.info(f"{what}: drop {key} (frozen batch norm keeps no counter)")
            continue
        matches = {r.apply(key, reverse) for r in rules} - {None}
        if len(matches) != 1:
            problem = "no rename rule matches" if not matches else f"ambiguous: {sorted(matches)}"
            raise WeightConversionError(f"{what}: unmapped key '{key}' ({problem})")
        new_key = matches.pop()
        if new_key in out:
            raise WeightConversionError(
                f"{what}: two keys map to '{new_key}' (one of them is '{key}')"
            )
        logger.info(f"{what}: {key} -> {new_key} {tuple(value.shape)}")
        out[new_key] = value
    return out


def _hf_to_official(state: Mapping) -> Dict:
    """Hugging Face keys -> official keys, packing q/k/v projections."""
    packed, rest = {}, OrderedDict()
    for key, value in state.items():
        m = _HF_QKV.fullmatch(key)
        if m is None:
            rest[key] = value
            continue
        name = f"transformer.{m['s']}.layers.{m['i']}.{_ATTN_NAMES[m['attn']]}.in_proj_{m['p']}"
        packed.setdefault(name, {})[m["qkv"]] = (key, value)
    out = _rename(rest, HF_TO_OFFICIAL, reverse=False, what="hf -> official")
    for name, parts in packed.items():
        missing = [q for q in "qkv" if q not in parts]
        if missing:
            some_key = next(iter(parts.values()))[0]
            raise WeightConversionError(f"hf: missing {missing} projection(s) next to '{some_key}'")
        keys = ", ".join(parts[q][0] for q in "qkv")
        out[name] = torch.cat([parts[q][1] for q in "qkv"])
        logger.info(f"hf -> official: [{keys}] -> {name} {tuple(out[name].shape)}")
    return out


def _official_to_hf(state: Mapping) -> Dict:
    """Official keys -> keys of the installed ``transformers`` (its own ResNet backbone)."""
    packed = {k: v for k, v in state.items() if _IN_PROJ.fullmatch(k)}
    rest = {k: v for k, v in state.items() if k not in packed}
    out = _rename(rest, HF_TO_OFFICIAL, reverse=True, what="official -> hf")
    for name, value in packed.items():
        m = _IN_PROJ.fullmatch(name)
        attn = "self_attn" if m["attn"] == "self_attn" else "encoder_attn"
        for q, part in zip("qkv", value.chunk(3)):
            out[f"model.{m['s']}.layers.{m['i']}.{attn}.{q}_proj.{m['p']}"] = part.clone()
    return out


def _check_class_rows(state: Mapping, prefix: str, rows: int, fmt: str) -> None:
    for p in ("weight", "bias"):
        key = f"{prefix}.{p}"
        if key not in state:
            raise WeightConversionError(f"{fmt}: missing key '{key}' (the class head)")
        if state[key].shape[0] != rows:
            raise WeightConversionError(
                f"{fmt}: '{key}' has {state[key].shape[0]} classes (rows), expected {rows}: "
                "official and Hugging Face COCO DETR have 92 (91 COCO ids + no-object), UPT's "
                "fine-tuned DETR 81 (80 COCO classes + no-object); check --format"
            )


def _official_to_rmlr(state: Mapping, fmt: str, rows: int) -> Dict:
    _check_class_rows(state, "class_embed", rows, fmt)
    out = _rename(state, OFFICIAL_TO_RMLR, reverse=False, what=f"{fmt} -> rmlr")
    if rows == OFFICIAL_CLASS_ROWS:
        index = torch.as_tensor(_OFFICIAL_ROWS)
        for p in ("weight", "bias"):
            out[f"detr.class_embed.{p}"] = out[f"detr.class_embed.{p}"][index].clone()
        logger.info(
            f"{fmt} -> rmlr: class head rows {list(_OFFICIAL_ROWS)} (COCO ids of the 80 classes, "
            f"then no-object) -> rows 0..{CLASS_ROWS - 1}"
        )
    validate_detector_state(out)
    return out


def convert_state(checkpoint: Mapping, fmt: str) -> Dict[str, torch.Tensor]:
    """Convert a loaded checkpoint of layout ``fmt`` (see ``FORMATS``) to our state dict."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}', expected one of {FORMATS}")
    if not isinstance(checkpoint, Mapping):
        raise WeightConversionError(f"{fmt}: expected a dict, got {type(checkpoint).__name__}")
    if fmt == "hf":
        return _official_to_rmlr(_hf_to_official(checkpoint), fmt, OFFICIAL_CLASS_ROWS)
    entry = "model" if fmt == "official" else "model_state_dict"
    if entry not in checkpoint:
        raise WeightConversionError(
            f"{fmt}: the checkpoint has no '{entry}' entry (entries: {sorted(checkpoint)[:8]}); "
            "official DETR stores 'model', UPT 'model_state_dict'; check --format"
        )
    rows = OFFICIAL_CLASS_ROWS if fmt == "official" else CLASS_ROWS
    return _official_to_rmlr(checkpoint[entry], fmt, rows)


def export_state(state: Mapping[str, torch.Tensor], fmt: str) -> Dict:
    """Inverse of :func:`convert_state`: our state dict -> the checkpoint layout ``fmt``
    (``{"model": ...}``, ``{"model_state_dict": ...}`` or a flat Hugging Face state dict). In the
    92-row official head, the 11 rows of unused COCO ids get zero weights and a bias of -1e4."""
    official = _rename(state, OFFICIAL_TO_RMLR, reverse=True, what=f"rmlr -> {fmt}")
    if fmt in ("official", "hf"):
        for p in ("weight", "bias"):
            value = official[f"class_embed.{p}"]
            full = value.new_zeros((OFFICIAL_CLASS_ROWS,) + value.shape[1:])
            if p == "bias":
                full.fill_(_UNUSED_ROW_BIAS)
            full[torch.as_tensor(_OFFICIAL_ROWS)] = value
            official[f"class_embed.{p}"] = full
    if fmt == "official":
        return {"model": official}
    if fmt == "upt":
        return {"model_state_dict": official}
    if fmt == "hf":
        return _official_to_hf(official)
    raise ValueError(f"unknown format '{fmt}', expected one of {FORMATS}")


def _count_blocks(state: Mapping, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state for m in [pattern.match(k)] if m}
    return max(found) + 1 if found else 0


def _expected_state(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Size]:
    """Key -> shape of the DETRDetector that ``state`` describes (depths and widths read from a
    few anchor weights), built on the meta device: no memory, no initialisation cost."""

    def anchor(key: str, dim: int = 0) -> int:
        if key not in state:
            raise WeightConversionError(f"missing key '{key}'")
        return int(state[key].shape[dim])

    d_model = anchor("detr.input_proj.weight")
    with torch.device("meta"):
        backbone = build_detr_resnet(
            num_blocks_per_stage=[
                max(_count_blocks(state, f"detr.backbone.res{s}."), 1) for s in range(2, 6)
            ],
            stem_out_channels=anchor("detr.backbone.stem.conv1.weight"),
            res2_out_channels=anchor("detr.backbone.res2.0.conv3.weight"),
        )
        transformer = DETRTransformer(
            d_model=d_model,
            nhead=8 if d_model % 8 == 0 else 1,
            num_encoder_layers=_count_blocks(state, "detr.transformer.encoder.layers."),
            num_decoder_layers=_count_blocks(state, "detr.transformer.decoder.layers."),
            dim_feedforward=anchor("detr.transformer.encoder.layers.0.linear1.weight"),
        )
        detr = DETR(
            backbone=backbone,
            position_embedding=PositionEmbeddingSine(num_pos_feats=d_model // 2),
            transformer=transformer,
            num_classes=anchor("detr.class_embed.weight") - 1,
            num_queries=anchor("detr.query_embed.weight"),
        )
        model = DETRDetector(detr=detr, criterion=None, pixel_mean=[0.0] * 3, pixel_std=[1.0] * 3)
    return {k: v.shape for k, v in model.state_dict().items()}


def _compare(state: Mapping, expected: Mapping[str, torch.Size], where: str) -> None:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: {tuple(state[k].shape)} instead of {tuple(s)}"
        for k, s in expected.items()
        if k in state and state[k].shape != s
    ]
    problems = []
    for name, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            problems.append(f"{len(items)} {name} key(s): " + "; ".join(items[:8]))
    if problems:
        raise WeightConversionError(f"{where}: " + " | ".join(problems))


def validate_detector_state(state: Mapping[str, torch.Tensor], num_classes: int = 80) -> None:
    """Raise, naming the keys, unless ``state`` has exactly the keys and shapes of a
    DETRDetector with ``num_classes`` + 1 class rows."""
    rows = state.get("detr.class_embed.weight")
    if rows is not None and rows.shape[0] != num_classes + 1:
        raise WeightConversionError(
            f"'detr.class_embed.weight' has {rows.shape[0]} rows, expected {num_classes + 1}"
        )
    _compare(state, _expected_state(state), "converted state dict")


def load_checkpoint_file(path: str, fmt: str = "official", what: str = "DETR checkpoint"):
    """Read a checkpoint without executing code (:func:`rmlr.checkpoint.read_checkpoint`:
    safetensors, ``torch.load(weights_only=True)``, an allow-list unpickler for ``.pkl``; local
    paths and URLs). For ``hf``, a local folder is searched for ``model.safetensors`` then
    ``pytorch_model.bin``."""
    if fmt == "hf" and os.path.isdir(path):
        for name in ("model.safetensors", "pytorch_model.bin"):
            if os.path.isfile(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in '{path}'")
    try:
        return read_checkpoint(path, what=what)
    except CheckpointError as e:
        raise WeightConversionError(str(e)) from e


def convert_checkpoint(path: str, fmt: str) -> Dict[str, torch.Tensor]:
    """Read ``path`` (layout ``fmt``) and return our state dict; errors name the key or path."""
    logger.info(f"converting '{path}' ({fmt} layout)")
    try:
        return convert_state(load_checkpoint_file(path, fmt), fmt)
    except WeightConversionError as e:
        raise WeightConversionError(f"{path}: {e}") from e


def save_checkpoint(state: Mapping[str, torch.Tensor], path: str) -> None:
    """Write ``{"model": state}`` atomically, loadable by Detectron2's checkpointer; logs its
    sha256."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = {"model": {k: v.contiguous() for k, v in state.items()}}
    atomic_write(path, lambda f: torch.save(data, f))
    logger.info(f"wrote {len(state)} tensors to '{path}' (sha256 {file_sha256(path)})")


def load_detector_checkpoint(model: torch.nn.Module, path: str) -> None:
    """Load ``{"model": state_dict}`` (a converted checkpoint or a Detectron2 training output; a
    local path or a URL) into ``model`` with exact key and shape matching; any mismatch raises
    naming the keys and ``path``."""
    checkpoint = load_checkpoint_file(path, what="model.entity_detector.checkpoint")
    if not isinstance(checkpoint, Mapping) or "model" not in checkpoint:
        raise WeightConversionError(
            f"{path}: no 'model' entry; convert DETR weights with tools/convert_detr_weights.py"
        )
    state = checkpoint["model"]
    expected = {k: v.shape for k, v in model.state_dict().items()}
    _compare(state, expected, f"{path} does not match {type(model).__name__}")
    model.load_state_dict(state, strict=True)
    logger.info(f"loaded {len(state)} tensors from '{path}' into {type(model).__name__}")
