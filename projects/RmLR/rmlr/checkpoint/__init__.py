"""Weight files: safe reading (no code runs from a file), strict loading, atomic saving and
resuming (:class:`RmLRCheckpointer`), used by every entry point of this project."""

from .checkpointer import (
    CheckpointMismatchError,
    RmLRCheckpointer,
    atomic_write,
    find_resume_checkpoint,
    read_model_checkpoint,
)
from .safe_read import (
    META_KEY,
    CheckpointError,
    UnsafeCheckpointError,
    describe_checkpoint,
    file_sha256,
    is_url,
    read_checkpoint,
    resolve_weight_path,
)

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "META_KEY",
    "RmLRCheckpointer",
    "UnsafeCheckpointError",
    "atomic_write",
    "describe_checkpoint",
    "file_sha256",
    "find_resume_checkpoint",
    "is_url",
    "read_checkpoint",
    "read_model_checkpoint",
    "resolve_weight_path",
]
