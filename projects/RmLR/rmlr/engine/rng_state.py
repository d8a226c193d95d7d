"""Random state of a training process, so that ``--resume`` continues bit for bit.

A resumed run equals an uninterrupted one only if every random draw after the resume point is the
same. Two sources of draws exist:

* the training process itself: dropout and other random layers (torch's CPU and CUDA generators),
  plus anything drawing from Python's ``random`` or numpy's global generator. Their states are
  captured in every checkpoint (:func:`capture_rng_state`) and restored before the first resumed
  step (:func:`restore_rng_state`); evaluation during training runs under :func:`preserved_rng`,
  so whether it ran or not changes nothing;
* the data augmentation, which draws from numpy's (and Python's) global generator in the process
  that maps the sample, a data-loader worker or the main process. Its draws cannot be checkpointed
  (workers prefetch ahead), so each sample is mapped under :func:`sample_rng`, seeded from the
  run's seed and the sample's position in the training stream: the same sample gets the same
  augmentation whichever process maps it, with any number of workers, after any resume.

Captured states hold only tensors, integers and floats (they load with ``weights_only=True``).
"""

import contextlib
import random
from typing import Dict, Iterator

import numpy as np
import torch

__all__ = ["capture_rng_state", "restore_rng_state", "preserved_rng", "sample_rng"]


def capture_rng_state() -> Dict:
    """Python ``random``, numpy's global generator, torch CPU and (initialised) CUDA generators."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    return {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": cuda,
    }


def restore_rng_state(state: Dict) -> None:
    """Set every generator :func:`capture_rng_state` captured (CUDA only when the counts of
    devices agree; otherwise a ``ValueError`` says so)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["kind"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"]:
        if not torch.cuda.is_available() or torch.cuda.device_count() != len(state["cuda"]):
            raise ValueError(
                f"the checkpoint holds the random state of {len(state['cuda'])} CUDA device(s) "
                f"but {torch.cuda.device_count() if torch.cuda.is_available() else 0} are visible"
            )
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block (e.g. evaluation) without changing any generator's state for what follows."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


@contextlib.contextmanager
def sample_rng(seed: int, position: int, *, restore: bool = True) -> Iterator[None]:
    """Seed Python's and numpy's global generators from ``(seed, position)`` for one sample's
    augmentation; with ``restore`` put back their previous states afterwards (needed in the
    training process, not in a data-loader worker, where nothing else draws from them)."""
    seed, position = int(seed) % 2**64, int(position)
    words = [seed & 0xFFFFFFFF, seed >> 32, position & 0xFFFFFFFF, position >> 32 & 0xFFFFFFFF]
    saved = (random.getstate(), np.random.get_state()) if restore else None
    random.seed(seed << 64 | position)
    np.random.seed(words)
    try:
        yield
    finally:
        if saved is not None:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
