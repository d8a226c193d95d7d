"""Foundation: the environment check, package import and the project layout."""

import os
import subprocess
import sys

from script_loader import load_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_check_env_passes_and_reports_versions():
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, "tools", "check_env.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "detectron2" in out.stdout and "d2 C++ ops" in out.stdout
    assert "environment OK" in out.stdout


def test_configs_folder_is_not_importable():
    # setup.py maps only the package folder: projects/RmLR/configs must stay off sys.path.
    import importlib.util

    assert importlib.util.find_spec("configs") is None


def test_package_imports_from_any_directory(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import rmlr; print(rmlr.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().endswith(os.path.join("projects", "RmLR", "rmlr", "__init__.py"))


def _fake_sources(root, builder):
    texts = {}
    for rel, _, old, _, count in builder.PATCHES:
        texts[rel] = texts.get(rel, "") + old * count
    texts["detectron2/utils/aliases.py"] = "x = np.bool\n" * builder.NUMPY_ALIAS_MIN_HITS
    for rel, text in texts.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)


def test_offline_detectron2_patches_apply(tmp_path):
    builder = load_script("tools/build_detectron2_offline.py")
    _fake_sources(str(tmp_path), builder)
    builder.apply_patches(str(tmp_path))
    launch = (tmp_path / "detectron2/engine/launch.py").read_text()
    assert "GLOO" in launch and "assert torch.cuda.is_available()" not in launch
    assert (tmp_path / "detectron2/utils/aliases.py").read_text().count("x = bool") == 10
    assert "def has_cuda" in (tmp_path / "detectron2/_C.py").read_text()


def test_offline_detectron2_patch_that_no_longer_applies_fails_loudly(tmp_path):
    import pytest

    builder = load_script("tools/build_detectron2_offline.py")
    _fake_sources(str(tmp_path), builder)
    (tmp_path / "detectron2/layers/mask_ops.py").write_text("mask = something_else\n")
    with pytest.raises(SystemExit, match="detectron2/layers/mask_ops.py"):
        builder.apply_patches(str(tmp_path))


def test_import_registers_meta_architectures_and_datasets():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, rmlr\n"
            "from detectron2.modeling import META_ARCH_REGISTRY\n"
            "from detectron2.data import DatasetCatalog, MetadataCatalog\n"
            "print(sorted(k for k in ('RmLR', 'DETRDetector') if k in META_ARCH_REGISTRY))\n"
            "print(sorted(DatasetCatalog.list()))\n"
            "print(MetadataCatalog.get('hico_det_test').evaluator_type)\n"
            "print('transformers' in sys.modules)\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    archs, names, evaluator, transformers_loaded = out.stdout.strip().splitlines()
    assert archs == "['DETRDetector', 'RmLR']"
    for name in (
        "hico_det_train",
        "hico_det_test",
        "vcoco_trainval",
        "vcoco_test",
        "vcoco_train",
        "vcoco_val",
        "synthetic_hoi_train",
        "synthetic_hoi_test",
    ):
        assert f"'{name}'" in names
    assert evaluator == "hico_det"
    # Inference and registration never need the text teacher's library.
    assert transformers_loaded == "False"


def test_lazyconfig_round_trip(tmp_path):
    from detectron2.config import LazyConfig, instantiate

    path = os.path.join(REPO, "projects", "RmLR", "configs", "rmlr", "rmlr_tiny_synthetic.py")
    cfg = LazyConfig.load(path)
    LazyConfig.save(cfg, str(tmp_path / "cfg.yaml"))
    again = LazyConfig.load(str(tmp_path / "cfg.yaml"))
    assert again.model.num_verbs == cfg.model.num_verbs == 8
    assert again.train.grad_accum_steps == 1
    irm = instantiate(again.model.irm)
    assert sum(p.numel() for p in irm.parameters()) > 0
