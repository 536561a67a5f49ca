"""Progress of a long compile on stderr: only when stderr is a terminal, never in logs or pipes.

A 100,000-partner compile takes tens of seconds; a person at a terminal sees which stage runs
and how far it got (`parse: 41,000 partners`). Redirected output gets nothing, so scripts and
CI logs stay clean.
"""

from __future__ import annotations

import sys
import time
from typing import IO

#: Seconds between two redraws of the same stage.
_INTERVAL = 0.1


class Progress:
    """``progress(stage, done, total)`` redraws one status line; ``close()`` clears it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._last = 0.0
        self._stage = ""
        self._shown = False

    @classmethod
    def for_stderr(cls) -> Progress | None:
        """A Progress on stderr if it is a terminal, else None (nothing to show)."""
        stream = sys.stderr
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        return cls(stream) if tty else None

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self._stage and now - self._last < _INTERVAL and done < total:
            return
        self._stage, self._last = stage, now
        of = f"/{total:,}" if total else ""
        self._stream.write(f"\r\x1b[K{stage}: {done:,}{of} partners")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False
