"""Structured JSON logs on stderr: one object per line, extra fields kept as keys."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


class RepeatFilter(logging.Filter):
    """One line per ``window_s`` for each repeated warning or error (issue 9): a client sending
    garbage must not turn every call into a log line (with its traceback). The first line passes;
    repeats within the window are counted, and the next line that passes says how many were
    ``suppressed``. A repeat is the same logger, level, message and extra fields: a new error is
    never hidden behind an old one."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._seen: dict[tuple[object, ...], list[float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        extras = tuple(sorted((k, repr(v)) for k, v in vars(record).items() if k not in _STANDARD))
        key = (record.name, record.levelno, record.getMessage(), extras)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is None:
            if len(self._seen) >= _MAX_REPEAT_KEYS:
                self._seen.clear()
            self._seen[key] = [now, 0]
            return True
        if now - seen[0] < self._window_s:
            seen[1] += 1
            return False
        if seen[1]:
            record.suppressed = seen[1]
            record.suppressed_window_s = self._window_s
        seen[0], seen[1] = now, 0
        return True


_MAX_REPEAT_KEYS = 1024


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # grpc's own chatter stays at warning.
    logging.getLogger("grpc").setLevel(logging.WARNING)
