"""Progress lines with an ETA for the long loops of the tools (demo images and video frames,
dataset generation), in the style of Detectron2's ``eta:`` log lines::

    demo: 12/40 images (30%), 0:00:08 elapsed, eta 0:00:19

A line is printed at most every ``interval`` seconds, and always for the last item, so a long run
shows it is alive without flooding the console. The ETA is the mean time per finished item times
the items left.
"""

import datetime
import sys
import time
from typing import Callable, Optional, TextIO

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``H:MM:SS`` (Detectron2's ETA format)."""
    return str(datetime.timedelta(seconds=int(round(max(seconds, 0.0)))))


class Progress:
    """Count finished items of a known (or unknown: ``total=None``) number and report.

    Args:
        total: items to do (None when unknown, e.g. a video without a frame count).
        what: prefix of each line, e.g. ``"demo"``.
        unit: plural name of the items, e.g. ``"images"``.
        interval: least seconds between two lines (the last item always prints).
        stream: where lines go (default stderr, so stdout stays machine-readable).
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(
        self,
        total: Optional[int],
        what: str,
        *,
        unit: str = "items",
        interval: float = 5.0,
        stream: Optional[TextIO] = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total = total
        self.what = what
        self.unit = unit
        self.interval = interval
        self.stream = stream
        self.clock = clock
        self.done = 0
        self.start = clock()
        self._last_print: Optional[float] = None

    def eta(self) -> Optional[float]:
        """Seconds left, or None before the first item or without a total."""
        if not self.done or self.total is None:
            return None
        return (self.clock() - self.start) / self.done * max(self.total - self.done, 0)

    def line(self, note: str = "") -> str:
        elapsed = self.clock() - self.start
        if self.total is None:
            count = f"{self.done} {self.unit}"
        else:
            percent = 100.0 * self.done / self.total if self.total else 100.0
            count = f"{self.done}/{self.total} {self.unit} ({percent:.0f}%)"
        text = f"{self.what}: {count}, {format_seconds(elapsed)} elapsed"
        eta = self.eta()
        if eta is not None:
            text += f", eta {format_seconds(eta)}"
        return text + (f" - {note}" if note else "")

    def update(self, n: int = 1, note: str = "") -> None:
        """``n`` more items finished; print a line when due."""
        self.done += n
        now = self.clock()
        last = self.total is not None and self.done >= self.total
        if last or self._last_print is None or now - self._last_print >= self.interval:
            self._last_print = now
            print(self.line(note), file=self.stream or sys.stderr, flush=True)
