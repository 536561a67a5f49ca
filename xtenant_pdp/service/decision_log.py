"""Decision log: every answer as one JSON line, written off the request path.

The hot path appends one tuple of objects it already holds (the request bytes, the answer
bytes, the latency) to a deque bounded in entries and bytes, and counts a drop when it is full:
one uncontended lock (the answering pool threads share the bound), no formatting, no I/O. A
writer thread decodes both messages, formats the lines, rotates the files by size and reports
write errors (counted, logged at most once a minute), so a slow or full disk costs log lines,
never an answer. The writer restarts itself if it ever fails, and it takes at most
WRITER_SHARE of the time (it holds the GIL while it formats), so it slows the server by about
that much at most: beyond that rate entries queue up and then drop (counted). A graceful stop
drains every queued entry (the queue bound is also what a stop may have to write: 8 MiB by
default).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter

from xtenant_pdp import convert
from xtenant_pdp.api import pdp_pb2
from xtenant_pdp.errors import QueryError

log = logging.getLogger("xtenant_pdp.decision_log")

#: Fraction of wall time the writer may work while the server runs (it sleeps the rest).
WRITER_SHARE = 0.1
#: Idle poll of the writer; entries wait at most about this long before being formatted.
POLL_S = 0.05
ERROR_LOG_INTERVAL_S = 60.0
#: Per-entry overhead counted against the byte bound besides the two messages.
ENTRY_OVERHEAD = 120

_UNARY, _BATCH, _LINES, _TYPED = 0, 1, 2, 3
#: Bytes counted for a typed entry (a question and a shared result, no messages).
TYPED_ENTRY_BYTES = 400
_time = time.time
_random = random.random


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionLogSettings:
    #: A file path, or "-" for stdout.
    path: str
    max_bytes: int = 100 * 1024 * 1024
    backups: int = 5
    sample: float = 1.0
    mask_salt: bytes | None = None
    queue_bytes: int = 8 * 1024 * 1024
    queue_entries: int = 20_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decision-log", metavar="PATH", help="write every decision as a JSON line to PATH (`-`: stdout)")
    p.add_argument("--decision-log-max-bytes", metavar="N", help="rotate the log at this size (default 100 MiB)")
    p.add_argument("--decision-log-backups", metavar="N", help="rotated files kept: PATH.1 ... PATH.N (default 5)")
    p.add_argument("--decision-log-sample", metavar="RATE", help="log this fraction of calls, 0-1 (default 1)")
    p.add_argument("--decision-log-mask-salt", metavar="SALT", help="log user ids as an HMAC-SHA256 keyed by SALT")
    p.add_argument(
        "--decision-log-queue-bytes", metavar="N", help="bytes queued for the writer before drops (default 8 MiB)"
    )


def settings_from(pick: Callable[[str], str | None]) -> DecisionLogSettings | None:
    """From flags/environment (``pick(name)`` as config.settings_from reads them). Raises ValueError."""
    path = pick("decision_log")
    if not path:
        return None

    from xtenant_pdp.config import parse_size  # config imports this module for its flags

    def number(name: str, default: int, minimum: int, *, size: bool = False) -> int:
        """A count, or with ``size`` bytes with the units every other size flag takes (8MiB)."""
        raw = pick(name)
        try:
            value = default if raw in (None, "") else parse_size(raw) if size else int(raw)
        except ValueError:
            what = "a size (e.g. 8MiB)" if size else "a whole number"
            raise ValueError(f"--{name.replace('_', '-')}: `{raw}` is not {what}") from None
        if value < minimum:
            raise ValueError(f"--{name.replace('_', '-')} must be {minimum} or more")
        return value

    sample_raw = pick("decision_log_sample")
    try:
        sample = 1.0 if sample_raw in (None, "") else float(sample_raw)
    except ValueError:
        sample = -1.0
    if not 0.0 <= sample <= 1.0:
        raise ValueError("--decision-log-sample must be between 0 and 1")
    salt = pick("decision_log_mask_salt")
    return DecisionLogSettings(
        path=path,
        max_bytes=number("decision_log_max_bytes", 100 * 1024 * 1024, 1024, size=True),
        backups=number("decision_log_backups", 5, 0),
        sample=sample,
        mask_salt=salt.encode() if salt else None,
        queue_bytes=number("decision_log_queue_bytes", 8 * 1024 * 1024, 1, size=True),
    )


# ------------------------------------------------------------------------- formatting


def _enum(value: Any) -> Any:
    name = getattr(value, "name", None)
    return name if name is not None else value


_PREFIXES = {"direction": "DIRECTION_", "feature": "FEATURE_", "scenario": "REDEMPTION_SCENARIO_"}


class Formatter:
    """Question and answer messages -> the log's JSON objects (on the writer thread)."""

    def __init__(self, mask_salt: bytes | None) -> None:
        self.mask_salt = mask_salt

    def user(self, user_id: str) -> str:
        if self.mask_salt is None or not user_id:
            return user_id
        return "hmac-sha256:" + hmac.new(self.mask_salt, user_id.encode(), hashlib.sha256).hexdigest()[:32]

    def question(self, raw_or_request: bytes | pdp_pb2.CheckRequest) -> dict[str, Any]:
        try:
            if isinstance(raw_or_request, bytes):
                kind, query = convert.question_from_bytes(raw_or_request)
            else:
                kind = raw_or_request.WhichOneof("question") or "invalid"
                query = convert.query_from_proto(raw_or_request)
        except QueryError as exc:
            return {"kind": "invalid", "errorField": exc.field}
        return self.typed_question(convert.json_name(getattr(kind, "label", kind)), query)

    def typed_question(self, kind: str, query: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": kind}
        for field, value in zip(query._fields, query, strict=True):
            name = convert.json_name(field)
            if field == "group_ids":
                out["groupCount"] = len(value)
            elif field == "user_id":
                out["userId"] = self.user(value)
                if self.mask_salt is not None:
                    out["userMasked"] = True
            elif field in _PREFIXES:
                out[name] = _PREFIXES[field] + value.name
            elif field == "external_cloud":
                out[name] = value.endpoint if value is not None else None
            elif isinstance(value, frozenset):
                out[name] = sorted(_enum(v) for v in value)
            else:
                out[name] = _enum(value)
        return out

    @staticmethod
    def answer(response: pdp_pb2.CheckResponse) -> dict[str, Any]:
        out = {
            "decision": pdp_pb2.Decision.Name(response.decision),
            "reason": pdp_pb2.Reason.Name(response.reason),
            "source": pdp_pb2.Source.Name(response.source),
            "snapshotId": response.snapshot_id,
        }
        if response.HasField("error"):
            out["error"] = response.error.field
        return out

    def lines(self, entry: tuple[Any, ...]) -> list[str]:
        kind, wall, raw, payload, latency = entry
        if kind == _LINES:
            return list(raw)
        when = datetime.fromtimestamp(wall, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        latency_us = round(latency * 1e6, 1)
        if kind == _TYPED:
            label, query, result, snapshot_id = raw
            record = {"time": when, **self.typed_question(label, query)}
            record.update(
                decision="DECISION_" + result.decision.name,
                reason="REASON_" + result.reason.name,
                source="SOURCE_" + result.source.name,
                snapshotId=snapshot_id,
                latencyUs=latency_us,
            )
            return [json.dumps(record, separators=(",", ":"))]
        if kind == _UNARY:
            pairs = [(raw, pdp_pb2.CheckResponse.FromString(payload))]
        else:
            requests = pdp_pb2.BatchCheckRequest.FromString(raw).requests
            responses = pdp_pb2.BatchCheckResponse.FromString(payload).responses
            pairs = list(zip(requests, responses, strict=False))
        out = []
        for question, response in pairs:
            record = {"time": when, **self.question(question), **self.answer(response), "latencyUs": latency_us}
            out.append(json.dumps(record, separators=(",", ":")))
        return out


# ------------------------------------------------------------------------- files


class RotatingFile:
    """PATH, rotated to PATH.1 ... PATH.N when the next write would pass ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.file: IO[bytes] | None = None
        self.size = 0

    def write(self, data: bytes) -> None:
        if self.path == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        if self.file is not None and self.size and self.size + len(data) > self.max_bytes:
            self._rotate()
        if self.file is None:
            self.file = open(self.path, "ab")  # noqa: SIM115 - kept open across writes
            self.size = self.file.tell()
        self.file.write(data)
        self.file.flush()
        self.size += len(data)

    def _rotate(self) -> None:
        self.close()
        if self.backups == 0:
            os.replace(self.path, self.path + ".1")
            os.unlink(self.path + ".1")
            return
        for i in range(self.backups - 1, 0, -1):
            if os.path.exists(f"{self.path}.{i}"):
                os.replace(f"{self.path}.{i}", f"{self.path}.{i + 1}")
        os.replace(self.path, self.path + ".1")

    def close(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None


# ------------------------------------------------------------------------- the log


class DecisionLog:
    """Owned by the server: ``record``/``record_batch`` on the pool threads, ``close`` on stop."""

    def __init__(self, settings: DecisionLogSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._max_entries = settings.queue_entries
        self._max_bytes = settings.queue_bytes
        # The answering threads add under ``_put_lock`` (the bound's check and add are one step);
        # the writer thread only adds to ``written_bytes``.
        self._put_lock = threading.Lock()
        self.queued_bytes = 0
        self.written_bytes = 0
        self.dropped_full = 0
        self._sample = settings.sample
        self._formatter = Formatter(settings.mask_salt)
        self._file = RotatingFile(settings.path, settings.max_bytes, settings.backups)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error_log = -ERROR_LOG_INTERVAL_S
        self._published_full = 0
        self.restarts = 0
        self.dropped = Counter(
            "xtenant_pdp_decision_log_dropped_total",
            "Decision log entries dropped: queue full, or lost to a write error",
            ["reason"],
            registry=registry,
        )
        self.written = Counter(
            "xtenant_pdp_decision_log_written_total", "Decision log lines written", registry=registry
        )
        self.errors = Counter(
            "xtenant_pdp_decision_log_write_errors_total", "Failed writes of the decision log", registry=registry
        )

    # -- hot path (pool threads) -------------------------------------------------

    def record(self, raw: bytes, payload: bytes, latency_s: float) -> None:
        self._put(_UNARY, raw, payload, latency_s)

    def record_batch(self, raw: bytes, payload: bytes, mean_latency_s: float) -> None:
        self._put(_BATCH, raw, payload, mean_latency_s)

    def record_decision(self, kind: str, query: Any, result: Any, snapshot_id: str, latency_s: float) -> None:
        """A decision made without CheckRequest/CheckResponse bytes (Envoy ext_authz): the typed
        question and its Result, formatted on the writer like the others."""
        self._put(_TYPED, (kind, query, result, snapshot_id), b"", latency_s, TYPED_ENTRY_BYTES)

    def _put(self, kind: int, raw: Any, payload: bytes, latency_s: float, size: int = 0) -> None:
        if self._sample < 1.0 and _random() >= self._sample:
            return
        size = (size or len(raw) + len(payload)) + ENTRY_OVERHEAD
        queue = self._queue
        with self._put_lock:
            if self.queued_bytes - self.written_bytes + size > self._max_bytes or len(queue) >= self._max_entries:
                self.dropped_full += 1
                return
            self.queued_bytes += size
            queue.append((kind, _time(), raw, payload, latency_s, size))

    def write_lines(self, lines: list[str]) -> None:
        """Pre-formatted lines (the audit records of a snapshot change); never sampled or dropped
        for size, from any thread."""
        self._queue.append((_LINES, 0.0, tuple(lines), b"", 0.0, 0))

    # -- writer thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout_s: float = 30.0) -> None:
        """Drain every queued entry, then close the file (blocking: run it off the event loop)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._publish()
        self._file.close()

    def _run(self) -> None:
        while True:
            try:
                self._loop()
                return
            except Exception:  # never die quietly: count, log, go on
                self.restarts += 1
                log.exception("decision log writer failed; restarting it")
                time.sleep(POLL_S)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.is_set()
            started = time.perf_counter()
            wrote = self._drain(limit_s=None if stopping else POLL_S * WRITER_SHARE * 5)
            self._publish()
            if stopping and not self._queue:
                return
            worked = time.perf_counter() - started
            if not stopping:
                # Keep to WRITER_SHARE of the time while serving; idle polls sleep POLL_S.
                time.sleep(max(POLL_S if not wrote else 0.0, worked * (1 - WRITER_SHARE) / WRITER_SHARE))

    def _drain(self, limit_s: float | None) -> int:
        queue, fmt = self._queue, self._formatter
        lines: list[str] = []
        taken = 0
        deadline = None if limit_s is None else time.perf_counter() + limit_s
        while queue and (deadline is None or time.perf_counter() < deadline):
            entry = queue.popleft()
            # Credited as it leaves the queue: an error below must not keep its bytes counted
            # as queued for ever (the queue would then drop everything as full).
            self.written_bytes += entry[-1]
            taken += 1
            try:
                lines.extend(fmt.lines(entry[:-1]))
            except Exception as exc:  # a message the writer cannot decode: skip it, keep the rest
                self.dropped.labels("unreadable").inc()
                self._log_error("cannot format a decision log entry; it is dropped", repr(exc))
            if len(lines) >= 2000:
                self._write(lines)
                lines = []
        if lines:
            self._write(lines)
        return taken

    def _write(self, lines: list[str]) -> None:
        data = ("\n".join(lines) + "\n").encode()
        try:
            self._file.write(data)
        except OSError as exc:
            self._file.close()
            self.errors.inc()
            self.dropped.labels("write_error").inc(len(lines))
            self._log_error(
                "cannot write the decision log; entries are dropped until it works again", exc.strerror or str(exc)
            )
            return
        self.written.inc(len(lines))

    def _log_error(self, message: str, error: str) -> None:
        """At most one error line per ERROR_LOG_INTERVAL_S: a full disk must not flood the log."""
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_INTERVAL_S:
            self._last_error_log = now
            log.error(message, extra={"path": self.settings.path, "error": error})

    def _publish(self) -> None:
        full = self.dropped_full
        if full != self._published_full:
            self.dropped.labels("queue_full").inc(full - self._published_full)
            self._published_full = full


def pick_from(args: argparse.Namespace, env: Mapping[str, str], prefix: str) -> Callable[[str], str | None]:
    def pick(name: str) -> str | None:
        value = getattr(args, name, None)
        return str(value) if value is not None else env.get(prefix + name.upper())

    return pick
