#!/usr/bin/env python
"""Build Detectron2 v0.6 into a pure-Python wheel from the PyPI sdist ``pb1-detectron2==0.6``.

Why: Detectron2 is not published on PyPI and GitHub may be unreachable (offline clusters, CI
sandboxes). ``pb1-detectron2==0.6`` carries exactly the upstream v0.6 Python sources but lacks the
C++ sources (``detectron2/layers/csrc``) and predates Pillow 10, NumPy 2, setuptools 81 and CPU
``launch``. This script downloads that sdist, applies the small source changes listed in
``PATCHES`` below (each with its reason; most match what upstream Detectron2 later did), and
builds a wheel with the local version ``0.6+offline.N`` so a re-run can tell it is installed.

Every change asserts that the text it replaces is present exactly as expected: if a future sdist
differs, the build stops with the file and the change that no longer applies, instead of
producing a half-patched Detectron2.

Users with internet can skip all of this: ``pip install 'git+https://github.com/facebookresearch/detectron2.git'``.
RmLR runs on both.

Usage::

    python tools/build_detectron2_offline.py --wheel-dir build/wheels [--sdist PATH]
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

SDIST_NAME = "pb1-detectron2"
SDIST_VERSION = "0.6"
# Bump when PATCHES change, so set-up rebuilds the wheel.
LOCAL_VERSION = "0.6+offline.1"
# pip >= 25 refuses to even download an sdist whose metadata declares a direct-URL dependency
# (pb1-detectron2's "all" extra names panopticapi by URL). pip 24.0 downloads it; it is run from
# its wheel, so the virtual environment's own pip is left alone.
DOWNLOAD_PIP = "pip==24.0"

# The `_C` stand-in: Detectron2 imports `detectron2._C` for compiled ops, and `default_setup()` /
# `collect_env` call three of its functions. Those three answer truthfully; anything else raises a
# clear error (rotated boxes, deformable conv and the fast COCO evaluation need the real build).
C_STUB = '''"""Stand-in for Detectron2's C++ extension, which the offline build cannot compile.

RmLR needs no compiled Detectron2 op (ROIAlign and NMS come from torchvision). Ops that do need
it (rotated boxes, deformable convolution, fast COCOeval) raise the error below.
"""


def get_compiler_version():
    return "none (detectron2 built without its C++ extension)"


def get_cuda_version():
    return "none (detectron2 built without its C++ extension)"


def has_cuda():
    return False


def __getattr__(name):
    raise ImportError(
        f"detectron2._C.{name} is unavailable: this Detectron2 was built offline without its C++ "
        "extension. Install the official build (pip install "
        "'git+https://github.com/facebookresearch/detectron2.git') for this op."
    )
'''

# (file, reason, old text, new text, expected number of occurrences)
PATCHES = [
    (
        "setup.py",
        "the sdist has no detectron2/layers/csrc, so the C++ extension cannot be built",
        "    ext_modules=get_extensions(),\n",
        "",
        1,
    ),
    (
        "setup.py",
        "model-zoo configs live in detectron2/model_zoo/configs in the sdist (no top-level configs/)",
        '    config_paths = glob.glob("configs/**/*.yaml", recursive=True) + glob.glob(\n'
        '        "configs/**/*.py", recursive=True\n'
        "    )\n",
        '    root = path.join(path.dirname(path.realpath(__file__)), "detectron2", "model_zoo")\n'
        "    config_paths = [\n"
        "        path.relpath(p, root)\n"
        '        for p in glob.glob(path.join(root, "configs", "**", "*.*"), recursive=True)\n'
        '        if p.endswith((".yaml", ".py"))\n'
        "    ]\n",
        1,
    ),
    (
        "setup.py",
        "black==21.4b2 breaks with click>=8.1; future/pydot were for caffe2 (upstream dropped them)",
        '        "future",  # used by caffe2\n        "pydot",  # used to save caffe2 SVGs\n',
        "",
        1,
    ),
    ("setup.py", "see above", '        "black==21.4b2",\n', '        "black",\n', 1),
    (
        "setup.py",
        "pip >= 25 rejects direct-URL requirements in PyPI metadata; panopticapi is unused by RmLR",
        '            "panopticapi @ https://github.com/cocodataset/panopticapi/archive/master.zip",\n',
        "",
        1,
    ),
    (
        "setup.py",
        "a local version lets set-up recognise this patched build",
        "    version=get_version(),\n",
        f'    version="{LOCAL_VERSION}",\n',
        1,
    ),
    (
        "detectron2/export/__init__.py",
        "caffe2 is gone from torch; keep export importable without it (upstream did the same)",
        "from .api import *\n",
        "try:\n    from .api import *\nexcept ImportError:  # caffe2 removed from torch\n    pass\n",
        1,
    ),
    (
        "detectron2/data/transforms/transform.py",
        "Image.LINEAR was removed in Pillow 10 (upstream uses BILINEAR)",
        "interp=Image.LINEAR",
        "interp=Image.BILINEAR",
        1,
    ),
    (
        "detectron2/model_zoo/model_zoo.py",
        "pkg_resources is gone in setuptools >= 81: locate configs next to this module",
        "import pkg_resources\n",
        "",
        1,
    ),
    (
        "detectron2/model_zoo/model_zoo.py",
        "see above",
        "    cfg_file = pkg_resources.resource_filename(\n"
        '        "detectron2.model_zoo", os.path.join("configs", config_path)\n'
        "    )\n",
        '    cfg_file = os.path.join(os.path.dirname(__file__), "configs", config_path)\n',
        1,
    ),
    (
        "detectron2/engine/launch.py",
        "launch() must also run on CPU (gloo) for tests and CPU-only users (upstream did the same)",
        '    assert torch.cuda.is_available(), "cuda is not available. Please check your installation."\n',
        "    has_gpu = torch.cuda.is_available() and num_gpus_per_machine <= torch.cuda.device_count()\n",
        1,
    ),
    (
        "detectron2/engine/launch.py",
        "see above",
        '            backend="NCCL",\n',
        '            backend="NCCL" if has_gpu else "GLOO",\n',
        1,
    ),
    (
        "detectron2/engine/launch.py",
        "see above",
        "    assert num_gpus_per_machine <= torch.cuda.device_count()\n"
        "    torch.cuda.set_device(local_rank)\n",
        "    if has_gpu:\n        torch.cuda.set_device(local_rank)\n",
        1,
    ),
    (
        "detectron2/engine/defaults.py",
        "DDP rejects device_ids for CPU modules: pass them only with CUDA",
        '    if "device_ids" not in kwargs:\n',
        '    if "device_ids" not in kwargs and torch.cuda.is_available():\n',
        1,
    ),
    (
        "detectron2/layers/mask_ops.py",
        "NumPy 2 raises on np.array(..., copy=False) when a copy is needed",
        "    mask = np.array(mask, copy=False)\n",
        "    mask = np.asarray(mask)\n",
        1,
    ),
    (
        "detectron2/evaluation/coco_evaluation.py",
        "the fast COCOeval needs the C++ extension",
        "use_fast_impl=True",
        "use_fast_impl=False",
        2,
    ),
    (
        "detectron2/engine/hooks.py",
        "silent resume bug: torch 2 schedulers are not _LRScheduler subclasses, so their state was "
        "never checkpointed (upstream tests LRScheduler)",
        "isinstance(self.scheduler, torch.optim.lr_scheduler._LRScheduler)",
        "isinstance(self.scheduler, getattr(torch.optim.lr_scheduler, 'LRScheduler', "
        "torch.optim.lr_scheduler._LRScheduler))",
        2,
    ),
]

# NumPy 2 removed the aliases np.bool/np.int/np.float/np.str (deprecated since 1.20): use builtins.
NUMPY_ALIAS = re.compile(r"\bnp\.(bool|int|float|str)\b(?!_)")
NUMPY_ALIAS_MIN_HITS = 10  # v0.6 has 16; far fewer means the sdist changed: look before building


def log(msg):
    print(f"[build_detectron2_offline] {msg}", flush=True)


def download_sdist(dest):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, DOWNLOAD_PIP]
        subprocess.run(cmd, check=True)
        (pip_wheel,) = glob.glob(os.path.join(tmp, "pip-*.whl"))
        cmd = [sys.executable, os.path.join(pip_wheel, "pip"), "download", "-q", "--no-deps"]
        cmd += ["--no-build-isolation", "-d", dest, f"{SDIST_NAME}=={SDIST_VERSION}"]
        subprocess.run(cmd, check=True)
    (sdist,) = glob.glob(
        os.path.join(dest, f"{SDIST_NAME.replace('-', '?')}-{SDIST_VERSION}.tar.gz")
    )
    return sdist


def apply_patches(src):
    for rel, reason, old, new, count in PATCHES:
        path = os.path.join(src, rel)
        with open(path) as f:
            text = f.read()
        found = text.count(old)
        if found != count:
            raise SystemExit(
                f"patch no longer applies: {rel}: expected {count} occurrence(s) of\n{old!r}\n"
                f"found {found}. Reason for the change: {reason}"
            )
        with open(path, "w") as f:
            f.write(text.replace(old, new))
        log(f"patched {rel}: {reason}")
    with open(os.path.join(src, "detectron2", "_C.py"), "w") as f:
        f.write(C_STUB)
    log("wrote detectron2/_C.py: stand-in for the C++ extension")

    hits = 0
    for path in glob.glob(os.path.join(src, "detectron2", "**", "*.py"), recursive=True):
        with open(path) as f:
            text = f.read()
        new, n = NUMPY_ALIAS.subn(lambda m: m.group(1), text)
        if n:
            with open(path, "w") as f:
                f.write(new)
            hits += n
            log(f"numpy-2 aliases -> builtins: {os.path.relpath(path, src)} ({n})")
    if hits < NUMPY_ALIAS_MIN_HITS:
        raise SystemExit(f"expected >= {NUMPY_ALIAS_MIN_HITS} numpy alias uses, found {hits}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel-dir", required=True, help="where the built wheel is written")
    parser.add_argument("--sdist", help="a local pb1-detectron2-0.6.tar.gz (default: download)")
    args = parser.parse_args()

    os.makedirs(args.wheel_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or download_sdist(tmp)
        log(f"unpacking {sdist}")
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        src = os.path.join(tmp, f"{SDIST_NAME}-{SDIST_VERSION}")
        apply_patches(src)
        # pb1's setup.py imports torch, so the build must see the environment's torch.
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        cmd += ["-w", args.wheel_dir, src]
        subprocess.run(cmd, check=True)
        shutil.rmtree(src)
    wheels = glob.glob(os.path.join(args.wheel_dir, "*detectron2-*.whl"))
    log(f"built {wheels}")


if __name__ == "__main__":
    main()
