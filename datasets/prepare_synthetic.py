#!/usr/bin/env python
"""Generate the embedded synthetic HOI dataset (``rmlr.data.synthetic``) ahead of time.

Registration generates it on first use anyway; this script is for inspecting it or for writing it
elsewhere. Default output: ``$DETECTRON2_DATASETS/synthetic_hoi``.

Usage::

    python datasets/prepare_synthetic.py [--root DIR] [--num-train 400] [--num-test 100] [--seed 0]
"""

from rmlr.data.synthetic import main

if __name__ == "__main__":
    main()
