"""The result of a bench run, as a ghz-shaped JSON report and as a text summary.

The JSON keeps ghz's field names and units so existing ghz tooling reads it: durations
(``total``, ``average``, ``fastest``, ``slowest``, ``latencyDistribution[].latency``) are integer
nanoseconds, ``histogram[].mark`` is a bucket's upper bound in **seconds** (float) and
``frequency`` a fraction of 0..1. As in ghz, ``total`` is the wall-clock length of the measured
run, ``rps`` is ``count / total``, and the latency statistics cover the successful calls only:
failures are counted in ``statusCodeDistribution`` and ``errorDistribution``. Departures from
ghz: ``percentage`` is a float (the report has p99.9) and status names are gRPC's upper-case
names (``UNAVAILABLE``, as ``grpc.StatusCode`` spells them, where ghz writes ``Unavailable``).
Our additions are ``decisionsPerSecond``, ``mode``, ``offeredRate`` (null in closed loop) and
``concurrency``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xtenant_pdp.bench.pacing import NS_PER_S, Mode
from xtenant_pdp.bench.stats import LatencySummary

__all__ = ["REPORT_KEYS", "BenchResult", "build_report", "format_duration", "render_text", "to_json"]

#: Every key of :func:`build_report`'s result.
REPORT_KEYS = frozenset(
    {
        "count",
        "total",
        "average",
        "fastest",
        "slowest",
        "rps",
        "latencyDistribution",
        "histogram",
        "statusCodeDistribution",
        "errorDistribution",
        "decisionsPerSecond",
        "mode",
        "offeredRate",
        "concurrency",
    }
)

_BAR_WIDTH = 40


@dataclass(frozen=True, slots=True)
class BenchResult:
    """What one measured run observed (warm-up calls excluded)."""

    mode: Mode
    concurrency: int
    #: Offered requests/s in open loop, ``None`` in closed loop.
    offered_rate: float | None
    #: Questions per call: 1 sends Check, more send BatchCheck.
    batch_size: int
    #: Wall-clock ns from the first measured send (or intended send) to the last answer.
    elapsed_ns: int
    #: Calls that finished, whatever their status.
    count: int
    #: Decisions in the successful answers (``count`` of OK calls times the batch size).
    decisions: int
    #: Latency of the successful calls.
    latency: LatencySummary
    status_codes: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    #: Open loop: requests dropped because they could not be sent within one call timeout of
    #: their intended time (the generator or the concurrency cap could not keep up).
    unsent: int = 0

    @property
    def rps(self) -> float:
        """Finished calls per second of wall-clock time."""
        return self.count * NS_PER_S / self.elapsed_ns if self.elapsed_ns > 0 else 0.0

    @property
    def decisions_per_second(self) -> float:
        """Decisions per second: what a batched run is really measured by."""
        return self.decisions * NS_PER_S / self.elapsed_ns if self.elapsed_ns > 0 else 0.0


def build_report(result: BenchResult) -> dict[str, Any]:
    """Return the JSON-ready report (see the module docstring for units)."""
    latency = result.latency
    # As in ghz, no successful call means no distribution rather than a row of zeros.
    distribution = [{"percentage": float(q), "latency": ns} for q, ns in latency.distribution()]
    return {
        "count": result.count,
        "total": result.elapsed_ns,
        "average": latency.average_ns,
        "fastest": latency.fastest_ns,
        "slowest": latency.slowest_ns,
        "rps": result.rps,
        "latencyDistribution": distribution if latency.count else [],
        "histogram": [
            {"mark": b.mark_ns / NS_PER_S, "count": b.count, "frequency": b.frequency} for b in latency.histogram
        ],
        "statusCodeDistribution": dict(result.status_codes),
        "errorDistribution": dict(result.errors),
        "decisionsPerSecond": result.decisions_per_second,
        "mode": result.mode.value,
        "offeredRate": result.offered_rate,
        "concurrency": result.concurrency,
    }


def to_json(result: BenchResult, *, indent: int | None = 2) -> str:
    """Serialise :func:`build_report` (strict JSON: no NaN or infinity can occur)."""
    return json.dumps(build_report(result), indent=indent, allow_nan=False)


_UNITS = ((NS_PER_S, "s"), (1_000_000, "ms"), (1_000, "us"), (1, "ns"))


def _unit_for(ns: int) -> tuple[int, str]:
    for scale, name in _UNITS:
        if ns >= scale:
            return scale, name
    return 1, "ns"


def format_duration(ns: int) -> str:
    """Format ns with a unit that keeps 3-4 significant digits (``1.23 ms``, ``850 ns``)."""
    scale, name = _unit_for(abs(ns))
    return f"{ns} ns" if scale == 1 else f"{ns / scale:.2f} {name}"


def _percentage(q: float) -> str:
    return f"{q:g}"


def render_text(result: BenchResult) -> str:
    """Render a human summary in the layout of ghz's default output."""
    lat = result.latency
    lines = ["", "Summary:"]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label + ':':<16}{value}")

    if result.mode is Mode.OPEN and result.offered_rate is not None:
        row("Mode", f"open loop, offered {result.offered_rate:.2f} req/s")
    else:
        row("Mode", "closed loop")
    row("Concurrency", str(result.concurrency))
    if result.batch_size > 1:
        row("Batch size", str(result.batch_size))
    row("Count", str(result.count))
    row("Total", format_duration(result.elapsed_ns))
    row("Slowest", format_duration(lat.slowest_ns))
    row("Fastest", format_duration(lat.fastest_ns))
    row("Average", format_duration(lat.average_ns))
    row("Requests/sec", f"{result.rps:.2f}")
    row("Decisions/sec", f"{result.decisions_per_second:.2f}")
    if result.unsent:
        lines.append(
            f"  Warning: {result.unsent} requests were dropped, unsent one timeout after their intended time:"
            " the offered rate was not reached (generator or concurrency cap saturated)."
        )
    if lat.count < result.count:
        lines.append(f"  Latency figures cover the {lat.count} successful calls only.")

    if lat.histogram:
        scale, unit = _unit_for(lat.slowest_ns)
        peak = max(b.count for b in lat.histogram)
        marks = [f"{b.mark_ns / scale:.3f}" for b in lat.histogram]
        counts = [f"[{b.count}]" for b in lat.histogram]
        mark_w, count_w = max(map(len, marks)), max(map(len, counts))
        lines += ["", f"Response time histogram ({unit}):"]
        for b, mark, count in zip(lat.histogram, marks, counts, strict=True):
            bar = "#" * (b.count * _BAR_WIDTH // peak if peak else 0)
            lines.append(f"  {mark:>{mark_w}} {count:<{count_w}} |{bar}")

        lines += ["", "Latency distribution:"]
        for q, ns in lat.distribution():
            lines.append(f"  {_percentage(q):>4} % in {format_duration(ns)}")

    if result.status_codes:
        lines += ["", "Status code distribution:"]
        name_w = max(len(name) for name in result.status_codes) + 2
        for name, n in sorted(result.status_codes.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {'[' + name + ']':<{name_w}}  {n} responses")

    if result.errors:
        lines += ["", "Error distribution:"]
        for message, n in sorted(result.errors.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {'[' + str(n) + ']':<8}{message}")
    lines.append("")
    return "\n".join(lines)
