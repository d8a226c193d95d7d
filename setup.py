#!/usr/bin/env python
"""Installs the ``rmlr`` package (``projects/RmLR/rmlr``) as a Detectron2 project.

``package_dir`` maps only the package folder, so ``projects/RmLR/configs`` never lands on ``sys.path``.
Detectron2 and PyTorch are installed by ``tools/setup_env.sh`` (see README), not resolved here:
pip cannot build the offline Detectron2 sources without the patches that script applies.
"""

from setuptools import find_packages, setup

setup(
    name="rmlr",
    version="0.1.0",
    description="RmLR (Re-mine, Learn and Reason, ICCV 2023) for human-object interaction detection",
    python_requires=">=3.9",
    package_dir={"rmlr": "projects/RmLR/rmlr"},
    packages=["rmlr"] + ["rmlr." + p for p in find_packages("projects/RmLR/rmlr")],
    # HICO-DET's zero-shot splits (index lists, MIT; provenance in the .md next to them)
    package_data={"rmlr.data": ["hico_det_zero_shot_splits.json", "hico_det_zero_shot_splits.md"]},
    install_requires=[
        "fvcore",
        "iopath",
        "omegaconf>=2.1,<2.4",
        "hydra-core>=1.1",
        "numpy",
        "scipy",
        "opencv-python-headless",
        "pycocotools",
        "safetensors",
    ],
    extras_require={"teacher": ["transformers>=4.40"], "dev": ["pytest", "black", "isort"]},
)
