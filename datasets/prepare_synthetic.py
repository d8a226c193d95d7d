#!/usr/bin/env python
"""Generate the embedded synthetic HOI dataset (``rmlr.data.synthetic``) ahead of time.

Registration generates it on first use anyway; this script is for inspecting it or for writing it
elsewhere. Default output: ``$DETECTRON2_DATASETS/synthetic_hoi`` (``DETECTRON2_DATASETS``
defaults to ``./datasets``). Prints progress and an ETA while it writes the images.

Usage::

    python datasets/prepare_synthetic.py [--root DIR] [--num-train 400] [--num-test 100] [--seed 0]
"""

import rmlr  # noqa: F401  isort: skip  (first: quiets a torch warning before other imports)

from rmlr.data.synthetic import main

if __name__ == "__main__":
    main()
