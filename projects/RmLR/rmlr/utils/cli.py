"""Shared pieces of the command-line tools: argument types that reject bad values at parse time
(before any model loads, with argparse's one-line ``error:`` and no traceback) and a help
formatter that keeps each tool's usage examples as written, and distinct picture names for
inputs that share a base name.

The tools' ``--help`` is their module docstring (what the tool does and example commands) followed
by every flag with its meaning and default.
"""

import argparse
import logging
import os
import sys
from collections import Counter
from typing import Callable, List, Sequence

__all__ = [
    "tool_parser",
    "positive_int",
    "positive_float",
    "unit_interval",
    "unique_output_names",
    "run_tool",
]


def tool_parser(doc: str, script: str) -> argparse.ArgumentParser:
    """A parser for the tool ``script`` (its ``__file__``, which names it in usage and errors)
    whose description is ``doc`` verbatim (examples keep their line breaks)."""
    return argparse.ArgumentParser(
        prog=os.path.basename(script),
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (>= 1), got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def unit_interval(text: str) -> float:
    """argparse type: a number in [0, 1] (a score or IoU threshold)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def unique_output_names(files: Sequence[str]) -> List[str]:
    """A distinct picture name per input: ``<stem>.png``; inputs sharing a stem are named by
    their path below their common folder, separators as ``__`` (``a/img.jpg``, ``b/img.jpg`` ->
    ``a__img.png``, ``b__img.png``), with the extension too if that is what differs
    (``img.jpg``, ``img.png`` -> ``img_jpg.png``, ``img_png.png``)."""
    stems = [os.path.splitext(os.path.basename(f))[0] for f in files]
    counts = Counter(stems)
    clashing = [os.path.abspath(f) for f, s in zip(files, stems) if counts[s] > 1]
    root = os.path.commonpath([os.path.dirname(f) for f in clashing]) if clashing else ""
    relative = {f: os.path.relpath(f, root).replace(os.sep, "__") for f in clashing}
    without_ext = Counter(os.path.splitext(r)[0] for r in relative.values())
    names = []
    for f, s in zip(files, stems):
        if counts[s] > 1:
            r = relative[os.path.abspath(f)]
            s = os.path.splitext(r)[0] if without_ext[os.path.splitext(r)[0]] == 1 else r
            s = s.replace(".", "_")
        names.append(s + ".png")
    return names


def run_tool(main: Callable, script: str) -> None:
    """Run a tool's ``main()`` as a command: a refused weight file or config, or a missing file,
    ends with one ``<tool>: error: ...`` line naming the file and exit status 1 instead of a
    traceback (the traceback goes to the debug log). ``main()`` itself keeps raising, for callers
    that import the tool. Exit status 0 when ``main()`` returns anything but ``None``, whose
    meaning is "nothing was done" (status 1)."""
    from ..checkpoint import CheckpointError  # noqa: avoid an import cycle at module load
    from ..config import ConfigError

    prog = os.path.basename(script)
    try:
        result = main()
    except (CheckpointError, ConfigError, FileNotFoundError) as e:
        logging.getLogger("rmlr").debug("traceback of the error below", exc_info=True)
        sys.exit(f"{prog}: error: {e}")
    sys.exit(0 if result is not None else 1)
