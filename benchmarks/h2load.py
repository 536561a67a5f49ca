"""h2load (nghttp2's C HTTP/2 load generator) as a gRPC client: frames, command lines, output.

h2load speaks gRPC when it POSTs a length-prefixed message with ``content-type: application/grpc``
and ``te: trailers``. It counts every HTTP 200 as a success even when the call failed (the gRPC
status is in the trailers, which it does not read), so the runner checks the server's own
``grpc_server_handled_total{grpc_code="OK"}`` (or a real client's call) separately.

Everything here is pure (no processes) so the tests can hold it: the runner is ``h2load_run``.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

SERVICE = "xtenant.pdp.v1.DecisionService"
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")
MISSING = "h2load not found (Debian/Ubuntu: apt-get install nghttp2-client): skipping the h2load part"


def h2load_path() -> str | None:
    return shutil.which("h2load")


def grpc_frame(message: bytes) -> bytes:
    """The gRPC length-prefixed message: flag byte 0 (not compressed), 4-byte big-endian length."""
    if len(message) >= 1 << 32:
        raise ValueError("a gRPC message is at most 4 GiB - 1")
    return b"\x00" + len(message).to_bytes(4, "big") + message


def unframe(body: bytes) -> bytes:
    """The message inside one gRPC frame (the inverse of :func:`grpc_frame`)."""
    if len(body) < 5 or body[0] != 0:
        raise ValueError("not an uncompressed gRPC frame")
    size = int.from_bytes(body[1:5], "big")
    if len(body) != 5 + size:
        raise ValueError(f"frame says {size} bytes, holds {len(body) - 5}")
    return body[5:]


def uri(address: str, method: str) -> str:
    """The call's URI; for a Unix socket its authority is a placeholder (``-B`` says where)."""
    authority = "localhost" if address.startswith("unix:") else address
    return f"http://{authority}/{SERVICE}/{method}"


def target_args(address: str, method: str) -> list[str]:
    """h2load's URI (and ``-B unix:PATH`` for a Unix socket) for a ``host:port`` or ``unix:/path``."""
    if address.startswith("unix:"):
        return ["-B", address, uri(address, method)]
    return [uri(address, method)]


@dataclass(frozen=True)
class Load:
    """One h2load run's shape. Closed loop: ``clients`` connections with ``streams`` calls in
    flight each, for ``duration_s`` (or ``calls`` in all when there is no duration). Open loop:
    ``rate`` calls/s from timing scripts spread over ``clients`` h2load processes of one
    connection each (each at rate/clients, their scripts 1/rate apart), ``calls`` in all.

    One process per connection because one h2load starts every connection's script at the same
    moment (``-r``/``--rate-period`` did not stagger them): 8 connections sent 8 calls together
    every 8 ms (gaps between sends: median 13 us, 90th percentile 8 ms), so the "open loop"
    measured bursts queueing (no-op p50 2 ms); and one connection cannot carry the rate alone,
    as its timer fires at most every 1.6 ms or so (600 calls/s asked 1,000)."""

    clients: int
    streams: int
    duration_s: float = 0.0
    rate: float = 0.0
    calls: int = 0

    @property
    def open_loop(self) -> bool:
        return self.rate > 0


def command(h2load: str, address: str, method: str, body_path: str, load: Load, *, script_path: str = "",
            log_path: str = "") -> list[str]:
    """The argv of one h2load process; for an open loop, one connection's process (see Load)."""
    clients = 1 if load.open_loop else load.clients
    argv = [h2load, "-t", "1", "-c", str(clients), "-m", str(load.streams), "-d", body_path]
    for header in GRPC_HEADERS:
        argv += ["-H", header]
    if load.open_loop:
        if not script_path:
            raise ValueError("an open-loop run needs its timing script")
        argv += ["--timing-script-file", script_path]
    elif load.duration_s <= 0 and load.calls > 0:
        argv += ["-n", str(load.calls)]
    else:
        argv += ["-D", f"{max(1, round(load.duration_s))}s"]
    if log_path:
        argv += ["--log-file", log_path]
    target = target_args(address, method)
    if load.open_loop:
        # With a timing script the URIs are the script's (see timing_script); -B still says where.
        target = [a for a in target if not a.startswith("http")]
    return argv + target


def timing_script(load: Load, address: str, method: str, connection: int = 0) -> str:
    """Connection ``connection``'s script: calls/clients lines, clients/rate seconds apart,
    starting ``connection``/rate seconds in (so the connections' calls interleave evenly).

    h2load schedules each line relative to the one before (its timer waits for the gap), so the
    gaps are kept at several milliseconds: at 1 ms its timer's granularity alone makes the rate
    drift low. The achieved rate is read from the log, not assumed."""
    if not load.open_loop or load.clients < 1 or load.calls < load.clients:
        raise ValueError("an open-loop load needs a rate and at least one call per connection")
    if not 0 <= connection < load.clients:
        raise ValueError(f"connection {connection} of {load.clients}")
    per_client = math.ceil(load.calls / load.clients)
    gap_ms = 1000.0 * load.clients / load.rate
    first_ms = 1000.0 * connection / load.rate
    line = uri(address, method)
    return "".join(f"{first_ms + i * gap_ms:.3f}\t{line}\n" for i in range(per_client))


# ----------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Summary:
    """h2load's end-of-run lines."""

    duration_s: float
    rps: float
    total: int
    started: int
    done: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    status_2xx: int


_FINISHED = re.compile(r"^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s", re.M)
_REQUESTS = re.compile(
    r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
    r"(\d+) timeout",
    re.M,
)
_STATUS = re.compile(r"^status codes: (\d+) 2xx", re.M)
_UNIT_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_summary(text: str) -> Summary:
    finished = _FINISHED.search(text)
    requests = _REQUESTS.search(text)
    status = _STATUS.search(text)
    if finished is None or requests is None or status is None:
        raise ValueError("not h2load's summary (no 'finished in', 'requests:' or 'status codes:' line)")
    counts = [int(g) for g in requests.groups()]
    return Summary(
        float(finished.group(1)) * _UNIT_S[finished.group(2)],
        float(finished.group(3)),
        *counts,
        int(status.group(1)),
    )


def merged(summaries: Sequence[Summary]) -> Summary:
    """Several processes' summaries as one run's (an open loop's connections): counts and rates
    add up, the run lasts as long as the longest."""
    if not summaries:
        raise ValueError("no summaries")
    counts = [sum(getattr(s, name) for s in summaries) for name in _COUNTS]
    return Summary(max(s.duration_s for s in summaries), sum(s.rps for s in summaries), *counts)


_COUNTS = ("total", "started", "done", "succeeded", "failed", "errored", "timeout", "status_2xx")


@dataclass(frozen=True)
class Row:
    """One ``--log-file`` line: when the call was sent (us since the epoch), its HTTP status
    (-1: the stream failed) and how long until its response ended (us)."""

    start_us: int
    status: int
    duration_us: int


def parse_log(text: str) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise ValueError(f"log line {number}: expected 3 tab-separated columns, got {line!r}")
        try:
            rows.append(Row(int(fields[0]), int(fields[1]), int(fields[2])))
        except ValueError:
            raise ValueError(f"log line {number}: not integers: {line!r}") from None
    return rows


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (the value at or above which a share 1-q of the values lie)."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return float(sorted_values[rank - 1])


def max_in_flight(rows: Sequence[Row]) -> int:
    """The most calls outstanding at once (a sweep over send and end times)."""
    events = sorted([(r.start_us, 1) for r in rows] + [(r.start_us + r.duration_us, -1) for r in rows])
    peak = now = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def latency_figures(
    rows: Sequence[Row], load: Load, *, connections: Sequence[Sequence[Row]] | None = None
) -> dict[str, float | int | bool]:
    """p50/p99/p99.9 of the calls that got a response, from each call's send time.

    In an open loop h2load sends on its timer whatever the server does, so the send time is the
    intended one as long as a connection's streams never all fill: ``saturated`` says one did
    (then a late send hides server time, and the figures are not free of coordinated omission).
    ``connections``: each connection's rows, when each ran in an h2load of its own (one full
    connection is saturation even while the others together are far from it)."""
    ok = sorted(r.duration_us for r in rows if r.status == 200)
    if not rows:
        raise ValueError("no calls in the log")
    span_us = max(r.start_us for r in rows) - min(r.start_us for r in rows)
    peak = max_in_flight(rows)
    figures: dict[str, float | int | bool] = {
        "calls": len(rows),
        "failed": sum(1 for r in rows if r.status != 200),
        "achieved_rate": (len(rows) - 1) / (span_us / 1e6) if span_us > 0 else 0.0,
        "max_in_flight": peak,
        "saturated": (
            peak >= load.clients * load.streams
            if connections is None
            else any(max_in_flight(c) >= load.streams for c in connections if c)
        ),
    }
    if ok:
        figures.update(
            p50_us=quantile(ok, 0.50), p99_us=quantile(ok, 0.99), p999_us=quantile(ok, 0.999), max_us=float(ok[-1])
        )
    return figures


# ----------------------------------------------------------------------------- metrics


def handled(exposition: str, method: str, service: str = SERVICE) -> tuple[float, float]:
    """(calls answered OK, all calls answered) of ``method`` by ``grpc_server_handled_total`` in a
    /metrics text."""
    ok = total = 0.0
    for family in text_string_to_metric_families(exposition):
        if family.name != "grpc_server_handled":
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_total") and labels.get("grpc_service") == service and (
                labels.get("grpc_method") == method
            ):
                total += sample.value
                if labels.get("grpc_code") == "OK":
                    ok += sample.value
    return ok, total


def verified(
    ok_calls: int, all_calls: int, succeeded: int, *, tolerance: float = 0.0, cut_off: int = 0
) -> bool:
    """Did gRPC say OK to every call h2load counted? At least h2load's successes must be OK, and no
    other call may have ended otherwise, except ``cut_off`` of them: with ``-D`` h2load closes its
    connections when the window ends, and the calls then in flight (at most connections x streams)
    end CANCELLED on the server without h2load counting them. ``tolerance``: the share of OK adds a
    server may lose (the thread-pool prototype's single-thread counters)."""
    return all_calls - ok_calls <= tolerance * all_calls + cut_off and ok_calls >= (1 - tolerance) * succeeded
