"""A dependency-free progress bar on stderr that degrades to plain lines when not a terminal.

On a TTY it redraws one line (`\\r`); otherwise (CI logs, pipes, CI=true) it prints a line at
roughly every 10 % and at the end, so logs stay short and readable.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, interactive: bool | None = None):
        self.total = max(0, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty and isatty()) and os.environ.get("CI", "").lower() not in ("1", "true", "yes")
        self.interactive = interactive
        self.done = 0
        self._t0 = time.perf_counter()
        self._next_line = 0.0

    def advance(self, note: str = "") -> None:
        self.done += 1
        frac = self.done / self.total if self.total else 1.0
        elapsed = time.perf_counter() - self._t0
        if self.interactive:
            width = 28
            filled = int(width * frac)
            bar = "█" * filled + "·" * (width - filled)
            eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
            text = f"\r{self.label} |{bar}| {self.done}/{self.total} {elapsed:5.1f}s eta {eta:4.1f}s {note[:40]:<40}"
            self.stream.write(text)
            if self.done >= self.total:
                self.stream.write("\n")
            self.stream.flush()
        elif frac >= self._next_line or self.done >= self.total:
            self.stream.write(f"{self.label} {self.done}/{self.total} ({100 * frac:.0f}%, {elapsed:.1f}s) {note}\n")
            self.stream.flush()
            self._next_line = frac + 0.1


__all__ = ["Progress"]
