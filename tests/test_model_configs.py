"""Every RmLR experiment config: loads, round-trips through ``LazyConfig.save``, instantiates (the
big ones on the meta device: structure without weights), refuses missing weights, and each
ablation changes exactly the modules it names."""

import glob
import os
import re

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.utils.registry import locate
from omegaconf import OmegaConf

import rmlr  # noqa: F401  (registers datasets)
from rmlr.engine import check_dataset_classes, check_weight_sources
from rmlr.modeling.interaction_reasoning import average_valid_cells
from rmlr.modeling.meta_arch.rmlr import RmLR

CONFIG_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "projects", "RmLR", "configs"
)
RMLR_CONFIGS = sorted(glob.glob(os.path.join(CONFIG_DIR, "rmlr", "*.py")))
NAMES = [os.path.basename(p)[:-3] for p in RMLR_CONFIGS]


def load(name):
    return LazyConfig.load(os.path.join(CONFIG_DIR, "rmlr", name + ".py"))


def _targets_as_objects(node):
    if isinstance(node, dict):
        return {
            k: (locate(v) if k == "_target_" and isinstance(v, str) else _targets_as_objects(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_targets_as_objects(v) for v in node]
    return node


@pytest.mark.parametrize("name", NAMES)
def test_config_loads_and_round_trips(name, tmp_path):
    cfg = load(name)
    assert {"model", "dataloader", "optimizer", "lr_multiplier", "train"} <= set(cfg)
    path = str(tmp_path / "config.yaml")
    LazyConfig.save(cfg, path)
    back = LazyConfig.load(path)
    original = _targets_as_objects(OmegaConf.to_container(cfg, resolve=False))
    assert _targets_as_objects(OmegaConf.to_container(back, resolve=False)) == original


_models = {}


def meta_model(name):
    """The config's model built on the meta device (shapes, no memory, no weight loading)."""
    if name not in _models:
        cfg = load(name)
        cfg.model.entity_detector.checkpoint = ""
        with torch.device("meta"):
            _models[name] = instantiate(cfg.model)
    return _models[name]


def shapes(model):
    return {n: tuple(p.shape) for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", [n for n in NAMES if "tiny" not in n])
def test_paper_configs_build_and_refuse_missing_weights(name):
    model = meta_model(name)
    assert isinstance(model, RmLR)
    cfg = load(name)
    detector_ckpt = cfg.model.entity_detector.checkpoint
    assert re.fullmatch(r"checkpoints/detr-r(50|101)-(hicodet|vcoco)\.pth", detector_ckpt)
    depth = "101" if "r101" in name else "50"
    dataset = "hicodet" if "hico_det" in name else "vcoco"
    assert detector_ckpt == f"checkpoints/detr-r{depth}-{dataset}.pth"
    if not os.path.isfile(detector_ckpt):
        with pytest.raises(FileNotFoundError, match=re.escape(detector_ckpt)):
            check_weight_sources(cfg)
    verbs = 117 if dataset == "hicodet" else 24
    assert model.irm.classifier.out_features == verbs and model.verb_mask.shape == (80, verbs)
    res4_blocks = len(model.entity_detector.detector.detr.backbone.res4)
    assert res4_blocks == (23 if depth == "101" else 6)
    # trainable: everything but the frozen DETR; the teacher is not a sub-module
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith("entity_detector.") for n in frozen)
    if model.text_teacher is not None:
        assert not model.text_teacher.is_loaded and list(model.text_teacher.parameters()) == []


def test_tiny_config_instantiates_for_real():
    cfg = load("rmlr_tiny_synthetic")
    assert cfg.model.entity_detector.checkpoint == "./output/detr_tiny_synthetic/model_final.pth"
    cfg.model.entity_detector.checkpoint = ""
    model = instantiate(cfg.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < 2_000_000
    assert model.irm.classifier.out_features == 8 and not model.text_teacher.is_loaded


def tree_diff(base, other):
    a, b = shapes(meta_model(base)), shapes(meta_model(other))
    removed = {n for n in a if n not in b}
    added = {n for n in b if n not in a}
    changed = {n for n in a.keys() & b.keys() if a[n] != b[n]}
    return removed, added, changed


def matching(names, *patterns):
    return {n for n in names if any(re.fullmatch(p, n) for p in patterns)}


BASE = "rmlr_r50_vcoco"


def base_names():
    return set(shapes(meta_model(BASE)))


# Table 2 rows: (config, removed parameter patterns, changed-shape parameters)
TABLE2 = {
    "rmlr_r50_vcoco_wo_cl": ([r"cross_modal\..*"], set()),
    "rmlr_r50_vcoco_wo_rm": ([r"ire\..*", r"cross_modal\.ire_branch\..*"], {"irm.fusion.weight"}),
    "rmlr_r50_vcoco_wo_wa": ([r"cross_modal\.ir[em]_branch\.word_head\..*"], set()),
    "rmlr_r50_vcoco_wo_sa": ([r"cross_modal\.ir[em]_branch\.sentence_head\..*"], set()),
    "rmlr_r50_vcoco_wo_irm_kt": ([r"cross_modal\.irm_branch\..*"], set()),
    "rmlr_r50_vcoco_wo_ire_kt": ([r"cross_modal\.ire_branch\..*"], set()),
}


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_table2_ablation_changes_exactly_the_named_modules(name):
    patterns, changed_expected = TABLE2[name]
    removed, added, changed = tree_diff(BASE, name)
    assert removed == matching(base_names(), *patterns) and removed
    assert not added and changed == changed_expected
    model = meta_model(name)
    assert (model.text_teacher is None) == (model.cross_modal is None)


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_tiny_table2_rows_mirror_the_r50_rows(name):
    """The tiny synthetic Table 2 configs (benchmarks/table2_synthetic.py) remove the same
    modules from rmlr_tiny_synthetic as the R50 rows from rmlr_r50_vcoco."""
    tiny = name.replace("rmlr_r50_vcoco", "rmlr_tiny_synthetic")
    patterns, changed_expected = TABLE2[name]
    removed, added, changed = tree_diff("rmlr_tiny_synthetic", tiny)
    assert removed == matching(set(shapes(meta_model("rmlr_tiny_synthetic"))), *patterns)
    assert removed and not added and changed == changed_expected


def test_plain_model_is_upts_interaction_head():
    """Table 2's plain model = UPT's head: no IRE / CL / fusion FC, the global branch mbf_g on the
    pooled C5 (2048 -> 512), pair token 512 + 512, one 1024-wide competitive layer (FFN 2048)."""
    name = "rmlr_r50_vcoco_plain"
    removed, added, changed = tree_diff(BASE, name)
    assert removed == matching(base_names(), r"ire\..*", r"cross_modal\..*", r"irm\.fusion\..*")
    assert added == {
        f"irm.image_fusion.{m}.{p}"
        for m in ("appearance", "spatial", "output")
        for p in ("weight", "bias")
    }
    assert changed == matching(
        base_names(),
        r"irm\.pair_fusion\.output\..*",
        r"irm\.competitive_layers\..*",
        r"irm\.classifier\.weight",
    )
    model = meta_model(name)
    irm, s = model.irm, shapes(model)
    assert model.ire is None and model.cross_modal is None and model.text_teacher is None
    assert isinstance(irm.fusion, torch.nn.Identity)
    assert s["irm.image_fusion.appearance.weight"] == (512, 2048)  # C5 -> 16 x 32 branches
    assert s["irm.image_fusion.spatial.weight"] == (512, 512)
    assert s["irm.image_fusion.output.weight"] == (512, 512)
    assert s["irm.pair_fusion.appearance.weight"] == (512, 512)  # cat(h, o) 2 x 256
    assert s["irm.pair_fusion.output.weight"] == (512, 512)
    assert [s[f"irm.spatial_encoder.mlp.{i}.weight"] for i in (0, 2, 4)] == [
        (128, 36),
        (256, 128),
        (512, 256),
    ]
    assert len(irm.cooperative_layers) == 2 and len(irm.competitive_layers) == 1
    layer = irm.competitive_layers[0]
    assert layer.norm1.normalized_shape == (1024,) and layer.norm1.eps == 1e-12
    assert s["irm.classifier.weight"] == (24, 1024)
    assert sorted(
        v
        for k, v in s.items()
        if k.startswith("irm.competitive_layers.0.ffn") and k.endswith("weight")
    ) == [
        (1024, 2048),
        (2048, 1024),
    ]


def test_tiny_plain_model_has_the_global_branch_and_trains():
    cfg = load("rmlr_tiny_synthetic_plain")
    cfg.model.entity_detector.checkpoint = os.path.join(
        os.path.dirname(CONFIG_DIR), "weights", "detr_tiny_synthetic_pretrain.pth"
    )
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    assert model.irm.image_fusion is not None and isinstance(model.irm.fusion, torch.nn.Identity)
    assert model.irm.image_fusion.appearance.in_features == 256  # tiny DETR C5 channels
    assert model.irm.hidden_dim == 64
    n, h, w = 2, 5, 7
    features = torch.randn(n, 256, h, w)
    mask = torch.zeros(n, h, w, dtype=torch.bool)
    mask[1, :, 4:] = True
    pooled = average_valid_cells(features, mask)
    torch.testing.assert_close(pooled[1], features[1, :, :, :4].mean(dim=(1, 2)))
    torch.testing.assert_close(pooled[0], features[0].mean(dim=(1, 2)))
    # one training step on synthetic data: the global branch gets gradients
    cfg.dataloader.train.total_batch_size = 2
    cfg.dataloader.train.num_workers = 0
    batch = next(iter(instantiate(cfg.dataloader.train)))
    model.train()
    losses = model(batch)
    assert set(losses) == {"loss_hoi"} and torch.isfinite(losses["loss_hoi"])
    losses["loss_hoi"].backward()
    grad = model.irm.image_fusion.appearance.weight.grad
    assert grad is not None and grad.abs().sum() > 0


TEXT_WIDTH_DEPENDENT = [
    r"cross_modal\.ir[em]_branch\.(sentence|word)_head\.2\.(weight|bias)",
    # Eq. 9: H^v (the IRM width, O^v) follows the teacher's width
    r"irm\.(fusion|classifier)\..*",
    r"irm\.competitive_layers\..*",
    r"cross_modal\.irm_branch\.input_proj\..*",
]
TABLE3 = {
    "rmlr_r50_vcoco_albert": ("albert-base-v2", 768),
    "rmlr_r50_vcoco_roberta": ("roberta-base", 768),
    "rmlr_r50_vcoco_mobilebert": ("google/mobilebert-uncased", 512),
    "rmlr_r50_vcoco_bert_base": ("bert-base-uncased", 768),
    "rmlr_r50_vcoco_bert_large": ("bert-large-uncased", 1024),
    "rmlr_r50_vcoco_minilm": (None, 384),
}


@pytest.mark.parametrize("name", sorted(TABLE3))
def test_table3_text_encoders_change_only_the_teacher_and_text_widths(name):
    removed, added, changed = tree_diff(BASE, name)
    model = meta_model(name)
    teacher = model.text_teacher
    path, width = TABLE3[name]
    assert teacher.embed_dim == width and teacher.target_norm == "standardize"
    if path is None:
        assert os.path.isdir(teacher.model_name_or_path)
    else:
        assert teacher.model_name_or_path == path
    # the IRM is as wide as the teacher (Eq. 9); the alignment layers are 1024 wide, so a
    # 1024-wide O^v needs no input projection
    assert model.irm.hidden_dim == width and model.irm.classifier.in_features == width
    assert not added
    assert removed == (
        matching(base_names(), r"cross_modal\.irm_branch\.input_proj\..*")
        if width == 1024
        else set()
    )
    assert changed <= matching(base_names(), *TEXT_WIDTH_DEPENDENT)
    assert bool(changed) == (width != 512)


@pytest.mark.parametrize(
    "base,other,allowed",
    [
        ("rmlr_r50_vcoco", "rmlr_r101_vcoco", [r"entity_detector\..*"]),
        ("rmlr_r50_hico_det", "rmlr_r101_hico_det", [r"entity_detector\..*"]),
        ("rmlr_r50_hico_det", "rmlr_r50_vcoco", [r"irm\.classifier\..*"]),
        ("rmlr_r50_hico_det", "rmlr_r50_hico_det_upt_schedule", []),
        ("rmlr_r50_vcoco", "rmlr_r50_vcoco_upt_schedule", []),
    ],
)
def test_backbone_dataset_and_schedule_variants(base, other, allowed):
    removed, added, changed = tree_diff(base, other)
    names = removed | added | changed
    assert names == matching(names, *allowed) if allowed else not names


def test_schedules():
    paper, upt = load("rmlr_r50_hico_det"), load("rmlr_r50_hico_det_upt_schedule")
    assert paper.dataloader.train.total_batch_size == 8 and paper.train.max_iter == 94083
    assert paper.optimizer.lr == 1e-4 and "Cosine" in str(paper.lr_multiplier._target_)
    assert upt.dataloader.train.total_batch_size == 16 and upt.train.max_iter == 47042
    assert list(upt.lr_multiplier.milestones) == [23521]
    scheduler = instantiate(upt.lr_multiplier)
    assert scheduler(0.49) == 1.0 and scheduler(0.51) == pytest.approx(0.1)
    vcoco = load("rmlr_r50_vcoco_upt_schedule")
    assert vcoco.train.max_iter == 6750 and list(vcoco.lr_multiplier.milestones) == [3375]


def test_table8_layer_overrides():
    cfg = LazyConfig.apply_overrides(
        load(BASE),
        [
            "model.irm.num_layers=2",
            "model.cross_modal.ire_branch.num_layers=1",
            "model.cross_modal.irm_branch.num_layers=1",
        ],
    )
    cfg.model.entity_detector.checkpoint = ""
    with torch.device("meta"):
        model = instantiate(cfg.model)
    assert len(model.irm.competitive_layers) == 2
    assert len(model.cross_modal.ire_branch.self_attention) == 1
    assert len(model.cross_modal.irm_branch.self_attention) == 1


@pytest.mark.parametrize("name", NAMES)
def test_verb_count_matches_the_datasets(name):
    cfg = load(name)
    check_dataset_classes(cfg)
    cfg.model.num_verbs = int(cfg.model.num_verbs) + 1
    with pytest.raises(ValueError, match="model.num_verbs"):
        check_dataset_classes(cfg)


def test_detr_configs_have_no_verb_count_to_check():
    """A DETR config has no ``model.num_verbs``: the check leaves it alone even when its datasets
    are HOI datasets with verbs (which would fail any verb count it were given)."""
    cfg = LazyConfig.load(os.path.join(CONFIG_DIR, "detr", "detr_r50_hico_det.py"))
    assert "num_verbs" not in cfg.model
    cfg.dataloader.train.dataset.names = "hico_det_train"
    cfg.dataloader.test.dataset.names = "hico_det_test"
    check_dataset_classes(cfg)
    cfg.model.num_verbs = 1  # the same config with a verb count is checked and refused
    with pytest.raises(ValueError, match="'hico_det_train', which has 117"):
        check_dataset_classes(cfg)
