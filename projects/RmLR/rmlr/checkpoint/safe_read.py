"""Reading weight files without running code from them.

A checkpoint from outside is untrusted: Python's ``pickle`` runs whatever a file asks for
(``os.system`` included), and Detectron2's checkpointer reads ``.pkl`` files with plain
``pickle.load``. Every weight file of this project is read by :func:`read_checkpoint`:

* ``.safetensors``: ``safetensors`` (tensors only by construction);
* ``.pkl`` (Detectron2 / Caffe2 model zoo): an allow-list unpickler that builds only numpy arrays
  and scalars (non-object dtypes), numbers, strings, bytes, lists, tuples and dicts; any other
  global (``os.system``, ``builtins.eval``, a torch rebuild function ...) refuses the whole file;
* anything else (``.pth``, ``.pt``, ``.bin``, no extension): ``torch.load(weights_only=True)``,
  passed explicitly, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` cannot turn it off (torch only
  lets that variable override a call that leaves ``weights_only`` unset).

Paths may be local files or ``http://``, ``https://`` and ``detectron2://`` URLs, which
Detectron2's ``PathManager`` downloads once into its cache (``$FVCORE_CACHE``, default
``~/.torch/iopath_cache``). Errors say which file was refused and why: :class:`UnsafeCheckpointError`
for content that is not plain data, :class:`CheckpointError` for a file that cannot be read
(missing, empty, truncated, corrupt, not downloadable).
"""

import argparse
import hashlib
import logging
import os
import pickle
from typing import Any, Dict, Mapping

import numpy as np
import torch
from detectron2.utils.file_io import PathManager

__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "WEIGHT_URL_PREFIXES",
    "is_url",
    "resolve_weight_path",
    "file_sha256",
    "read_checkpoint",
    "describe_checkpoint",
    "META_KEY",
]

logger = logging.getLogger(__name__)

WEIGHT_URL_PREFIXES = ("http://", "https://", "detectron2://")
# Entry of the checkpoints this project saves: {"config_file", "config" (YAML text), versions}.
META_KEY = "rmlr_meta"


class CheckpointError(ValueError):
    """A weight file that cannot be used; the message names the file and the reason."""


class UnsafeCheckpointError(CheckpointError):
    """A weight file that holds more than plain data (it would run code if unpickled)."""


def is_url(path: str) -> bool:
    return str(path).startswith(WEIGHT_URL_PREFIXES)


def resolve_weight_path(path: str, what: str = "checkpoint") -> str:
    """The local file of ``path``: itself (``~`` expanded), or the cached download of a URL.

    Raises ``FileNotFoundError`` for a missing local file and :class:`CheckpointError` naming the
    URL when a download fails (offline, 404, ...).
    """
    if not path:
        raise FileNotFoundError(f"{what}: no file given")
    if is_url(path):
        try:
            return PathManager.get_local_path(path)
        except Exception as e:  # urllib / iopath raise many types; all mean "not downloaded"
            raise CheckpointError(
                f"{what} {path}: cannot download it ({type(e).__name__}: {e}). Offline, download "
                "it elsewhere and give the local path (or put it in $FVCORE_CACHE)."
            ) from e
    local = os.path.expanduser(path)
    if not os.path.isfile(local):
        raise FileNotFoundError(f"{what} {path!r}: no such file")
    return local


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _NotPlainData(pickle.UnpicklingError):
    """Raised by the allow-list: the file asks for more than plain data."""


class _PlainDataUnpickler(pickle.Unpickler):
    """Builds numpy arrays, numpy scalars and Python containers, nothing else.

    The globals below are the ones numpy's pickles (protocols 0-5, numpy 1 and 2 module names)
    and Python 2 era model-zoo files need; none of them can run code from the file.
    """

    ALLOWED = {
        (module, name)
        for prefix in ("numpy.core", "numpy._core")
        for module, name in (
            (f"{prefix}.multiarray", "_reconstruct"),
            (f"{prefix}.multiarray", "scalar"),
            (f"{prefix}.numeric", "_frombuffer"),
        )
    } | {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise _NotPlainData(
            f"it asks for the Python global '{module}.{name}', which is not plain data"
        )

    def persistent_load(self, pid):
        raise _NotPlainData("it uses persistent ids (a torch file saved as .pkl?)")


_PLAIN_TYPES = (str, bytes, int, float, bool, type(None), np.generic)


def _check_plain(obj: Any, depth: int = 0) -> None:
    """Refuse object arrays and anything the allow-list let through that is not plain data."""
    if depth > 64:
        raise _NotPlainData("it is nested more than 64 levels deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise _NotPlainData("it holds a numpy array of Python objects")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, depth + 1)
            _check_plain(v, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, depth + 1)
    elif not isinstance(obj, _PLAIN_TYPES) or isinstance(obj, np.object_):
        raise _NotPlainData(f"it holds a {type(obj).__name__}")


def _read_pickle(local: str, name: str):
    try:
        with open(local, "rb") as f:
            data = _PlainDataUnpickler(f, encoding="latin1").load()
        _check_plain(data)
    except _NotPlainData as e:
        raise UnsafeCheckpointError(
            f"{name}: refused: {e}. A .pkl is read with an allow-list unpickler that builds only "
            "numpy arrays, numbers, strings, lists and dicts; convert the file to .pth "
            "(torch.save of a dict of tensors) if it is yours."
        ) from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise CheckpointError(
            f"{name}: not a readable .pkl (truncated or corrupt?): {type(e).__name__}: {e}"
        ) from e
    return data


def _read_torch(local: str, name: str):
    if os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0").lower() in ("1", "y", "yes", "true"):
        logger.warning(
            f"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set; {name} is still read with weights_only=True"
        )
    try:
        # argparse.Namespace: official DETR stores its training arguments next to the weights.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(local, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = next((line for line in lines if "GLOBAL" in line), None)
        if detail is None:  # not a blocked global: a damaged file
            reason = next((line for line in lines if "operand" in line or "load key" in line), "")
            raise CheckpointError(
                f"{name}: not a readable torch file (truncated or corrupt?): {reason or lines[0]}"
            ) from e
        raise UnsafeCheckpointError(
            f"{name}: refused: it holds Python objects other than tensors, numbers, strings and "
            f"containers ({detail}); weights are read with torch.load(weights_only=True) and "
            "never unpickled. Re-save only the tensors (torch.save({'model': state_dict}, path)) "
            "if the file is yours."
        ) from e
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as e:
        raise CheckpointError(
            f"{name}: not a readable torch file (truncated or corrupt?): "
            f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        ) from e


def read_checkpoint(path: str, *, what: str = "checkpoint") -> Dict:
    """Read a weight file (local path or URL) without running code from it.

    Args:
        path: local file, or ``http(s)://`` / ``detectron2://`` URL.
        what: how errors and the log line name the file (e.g. ``"train.init_checkpoint"``).

    Returns:
        the file's content: a dict for every checkpoint this project writes or converts.
        Logs the file's sha256.
    """
    local = resolve_weight_path(path, what)
    name = f"{what} {path}" if local == os.path.expanduser(path) else f"{what} {path} ({local})"
    if os.path.getsize(local) == 0:
        raise CheckpointError(f"{name}: empty file (0 bytes)")
    if local.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            data = load_file(local, device="cpu")
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"{name}: not a readable safetensors file: {e}") from e
    elif local.endswith(".pkl"):
        data = _read_pickle(local, name)
    else:
        data = _read_torch(local, name)
    logger.info(f"read {name}: sha256 {file_sha256(local)}; {describe_checkpoint(data)}")
    return data


def describe_checkpoint(data: Any) -> str:
    """One line: tensor count per top-level module, and where the file comes from (the run's
    config file and iteration for checkpoints this project saved, the author of model-zoo files)."""
    if not isinstance(data, Mapping):
        return f"a {type(data).__name__}, not a dict"
    state = data.get("model", data)
    if not isinstance(state, Mapping):
        return f"'model' is a {type(state).__name__}, not a dict"
    groups: Dict[str, int] = {}
    numel = 0
    for key, value in state.items():
        group = str(key).split(".")[0]
        groups[group] = groups.get(group, 0) + 1
        if isinstance(value, torch.Tensor):
            numel += value.numel()
        elif isinstance(value, np.ndarray):
            numel += value.size
    parts = ", ".join(f"{g} {n}" for g, n in sorted(groups.items(), key=lambda kv: -kv[1])[:8])
    text = f"{len(state)} tensors, {numel / 1e6:.2f}M values ({parts})"
    meta = data.get(META_KEY)
    if isinstance(meta, Mapping):
        origin = ", ".join(f"{k} {meta[k]}" for k in ("config_file", "rmlr_version") if k in meta)
        text += f"; saved by RmLR ({origin})"
    elif "__author__" in data:
        text += f"; author {data['__author__']}"
    if "iteration" in data:
        text += f"; iteration {data['iteration']}"
    return text
