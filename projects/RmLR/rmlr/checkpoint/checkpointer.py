"""``RmLRCheckpointer``: Detectron2's checkpointer, reading safely, loading strictly, writing
atomically, resuming from the newest valid checkpoint.

Every entry point loads weights through it (training, ``--eval-only``, ``--resume``, the demo,
the analysis tool):

* **Reading**: :func:`~rmlr.checkpoint.safe_read.read_checkpoint` (no code runs from a file; URLs
  through Detectron2's ``PathManager``; the sha256 and a one-line description are logged).
  Detectron2 model-zoo ``.pkl`` layouts are converted as ``DetectionCheckpointer`` does.
* **Strict loading** (default): a missing, unexpected or wrongly shaped key raises
  :class:`CheckpointMismatchError` naming the keys, so a checkpoint of another architecture cannot
  be evaluated by mistake. ``strict=False`` (fine-tuning from a partial checkpoint, config key
  ``train.allow_partial_init_checkpoint=True``) logs them instead, as Detectron2 does.
* **Atomic saving**: a checkpoint and ``last_checkpoint`` are written to a temporary file in the
  same folder, flushed to disk, then renamed, so a crash (kill, full disk) never leaves a partial
  file under a checkpoint's name. Each checkpoint also stores ``rmlr_meta`` (the config file, the
  config as YAML text, versions) for the log line of whoever loads it.
* **Resume**: :func:`find_resume_checkpoint` reads the file ``last_checkpoint``
  names and, when that one is missing, empty, truncated or corrupt, falls back to the newest valid
  ``model_*.pth`` with a warning naming the bad file. A file refused as unsafe stops the run.
"""

import logging
import os
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from detectron2.checkpoint import DetectionCheckpointer

from .safe_read import META_KEY, CheckpointError, UnsafeCheckpointError, read_checkpoint

__all__ = [
    "CheckpointMismatchError",
    "RmLRCheckpointer",
    "atomic_write",
    "find_resume_checkpoint",
    "read_model_checkpoint",
]

logger = logging.getLogger(__name__)

_CHECKPOINT_NAME = re.compile(r"model_(\d+|final)\.pth")
_SHOWN_KEYS = 6


class CheckpointMismatchError(CheckpointError):
    """Strict loading found missing, unexpected or wrongly shaped keys (named in the message)."""


def atomic_write(path: str, write, mode: str = "wb") -> None:
    """``write(f)`` into a temporary file next to ``path``, fsync, then rename onto ``path``.

    On any error (``OSError`` of a full disk, ``KeyboardInterrupt`` ...) the temporary file is
    removed and ``path`` keeps its previous content.
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable (not supported on every file system)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _shorten(items: List[str]) -> str:
    more = f" ... (+{len(items) - _SHOWN_KEYS} more)" if len(items) > _SHOWN_KEYS else ""
    return ", ".join(items[:_SHOWN_KEYS]) + more


class RmLRCheckpointer(DetectionCheckpointer):
    """See the module docstring.

    Args:
        model, save_dir, save_to_disk, checkpointables: as ``DetectionCheckpointer``.
        strict: refuse (True) or log (False) missing / unexpected / wrongly shaped keys.
        metadata: stored under ``rmlr_meta`` in every checkpoint saved (plain data only).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        save_dir: str = "",
        *,
        strict: bool = True,
        metadata: Optional[Mapping] = None,
        save_to_disk: Optional[bool] = None,
        **checkpointables,
    ):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.strict = strict
        self.metadata = dict(metadata or {})

    # --- reading and loading --------------------------------------------------------------

    def read(self, path: str, what: str = "checkpoint") -> Dict:
        """The content of ``path`` (local or URL) in Detectron2's layout ``{"model": ..., ...}``."""
        return read_model_checkpoint(path, what)

    def load(self, path: str, checkpointables: Optional[List[str]] = None) -> Dict:
        """Read ``path`` and load it (see :meth:`apply`); an empty path loads nothing."""
        if not path:
            self.logger.info("No checkpoint given: the model keeps its initial weights")
            return {}
        return self.apply(self.read(path), path, checkpointables)

    def apply(
        self, checkpoint: Mapping, path: str, checkpointables: Optional[List[str]] = None
    ) -> Dict:
        """Load a checkpoint already read: the model (strictly unless ``strict=False``) and the
        ``checkpointables`` (default: all of them). Returns the remaining entries."""
        checkpoint = dict(checkpoint)
        checkpoint["model"] = dict(checkpoint["model"])  # _load_model edits it
        self._source = path
        incompatible = self._load_model(checkpoint)
        if incompatible is not None:
            self._log_incompatible_keys(incompatible)
        for key in self.checkpointables if checkpointables is None else checkpointables:
            if key in checkpoint:
                self.logger.info(f"Loading {key} from {path}")
                self.checkpointables[key].load_state_dict(checkpoint.pop(key))
        return checkpoint

    def _load_file(self, filename: str) -> Dict:
        return self.read(filename)

    def _load_model(self, checkpoint: Dict):
        incompatible = super()._load_model(checkpoint)
        problems = []
        if incompatible.missing_keys:
            n = len(incompatible.missing_keys)
            problems.append(f"{n} missing key(s): {_shorten(incompatible.missing_keys)}")
        if incompatible.unexpected_keys:
            n = len(incompatible.unexpected_keys)
            problems.append(f"{n} unexpected key(s): {_shorten(incompatible.unexpected_keys)}")
        if incompatible.incorrect_shapes:
            shapes = [
                f"{k} {tuple(a)} in the file, {tuple(b)} in the model"
                for k, a, b in incompatible.incorrect_shapes
            ]
            problems.append(f"{len(shapes)} wrongly shaped key(s): {_shorten(shapes)}")
        if problems and self.strict:
            raise CheckpointMismatchError(
                f"checkpoint {getattr(self, '_source', '')} does not match the model "
                f"({type(self.model).__name__}): " + "; ".join(problems) + ". Evaluation, the "
                "demo and --resume load strictly; to fine-tune from a partial checkpoint set "
                "train.allow_partial_init_checkpoint=True."
            )
        return incompatible

    # --- saving ---------------------------------------------------------------------------

    def save(self, name: str, **kwargs) -> None:
        """Write ``<save_dir>/<name>.pth`` atomically, then tag it in ``last_checkpoint``."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        if self.metadata:
            data[META_KEY] = self.metadata
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        atomic_write(save_file, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        path = os.path.join(self.save_dir, "last_checkpoint")
        atomic_write(path, lambda f: f.write(last_filename_basename), mode="w")

    def read_resume_checkpoint(self) -> Tuple[Optional[str], Optional[Dict]]:
        """:func:`find_resume_checkpoint` of ``save_dir``."""
        return find_resume_checkpoint(self.save_dir)


def _other_checkpoints(save_dir: str, tagged: str) -> List[str]:
    """``model_<iteration>.pth`` / ``model_final.pth`` in ``save_dir``, newest first."""
    found = []
    for name in os.listdir(save_dir) if os.path.isdir(save_dir) else []:
        m = _CHECKPOINT_NAME.fullmatch(name)
        path = os.path.join(save_dir, name)
        if m and path != tagged:
            found.append((float("inf") if m.group(1) == "final" else int(m.group(1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def find_resume_checkpoint(save_dir: str) -> Tuple[Optional[str], Optional[Dict]]:
    """``(path, checkpoint)`` of the newest valid training checkpoint in ``save_dir``: the file
    ``last_checkpoint`` names, else (with a warning naming the bad files) the newest valid
    ``model_*.pth``; ``(None, None)`` when there is no ``last_checkpoint`` (a fresh run).

    Raises :class:`UnsafeCheckpointError` for a file refused as unsafe and
    :class:`CheckpointError` listing the files when none is valid.
    """
    tag = os.path.join(save_dir, "last_checkpoint")
    if not os.path.isfile(tag):
        return None, None
    with open(tag) as f:
        tagged = os.path.join(save_dir, f.read().strip())
    bad = []
    for path in [tagged] + _other_checkpoints(save_dir, tagged):
        if not os.path.isfile(path):
            bad.append(f"{path} (missing)")
            continue
        try:
            checkpoint = read_model_checkpoint(path, what="--resume checkpoint")
        except UnsafeCheckpointError:
            raise
        except CheckpointError as e:
            bad.append(f"{path} ({e})")
            continue
        if "iteration" not in checkpoint:
            bad.append(f"{path} (no 'iteration': not a training checkpoint)")
            continue
        if bad:
            logger.warning(
                f"--resume: skipped invalid checkpoint(s): {'; '.join(bad)}. Resuming from "
                f"{path}, the newest valid one."
            )
        return path, checkpoint
    raise CheckpointError(
        f"--resume: no valid checkpoint in {save_dir}: {'; '.join(bad)}. Delete {tag} to start "
        "from scratch."
    )


def read_model_checkpoint(path: str, what: str = "checkpoint") -> Dict:
    """:func:`read_checkpoint` in Detectron2's layout ``{"model": state_dict, ...}``."""
    return to_detectron2_layout(read_checkpoint(path, what=what), f"{what} {path}")


def to_detectron2_layout(data, name: str) -> Dict:
    """``DetectionCheckpointer._load_file``'s conversion, for content already read: Detectron2
    model-zoo files kept (with their name-matching flag), Caffe2 ``blobs`` unwrapped, a bare
    state dict wrapped as ``{"model": ...}``."""
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{name}: expected a dict of weights, got {type(data).__name__}")
    data = dict(data)
    if "__author__" in data and "model" in data:
        return data
    if "blobs" in data or (name.endswith(".pkl") and "model" not in data):
        blobs = data.get("blobs", data)
        blobs = {k: v for k, v in blobs.items() if not k.endswith("_momentum")}
        return {"model": blobs, "__author__": "Caffe2", "matching_heuristics": True}
    if "model" not in data:
        data = {"model": data}
    if not isinstance(data["model"], Mapping):
        raise CheckpointError(f"{name}: 'model' is a {type(data['model']).__name__}, not a dict")
    return data
