"""Latency recording and summary statistics for the load generator.

Samples are integer nanoseconds kept in an ``array('q')``: recording one is a single C-level
append (no Python object is kept per sample), so the recorder costs the hot path almost nothing
and a million samples take 8 MB.

Percentiles use the **nearest-rank** method on the sorted samples: the q-th percentile of n
samples is the sample of rank ``ceil(q / 100 * n)`` (1-based), and the 0th is the fastest. It
always returns a value that was actually observed (no interpolation invents latencies), it is
monotonic in q, and on the samples 1..100 the p-th percentile is exactly p. The rank is computed
in exact rational arithmetic, so ``99.9`` means 999/1000 and not the nearest binary float.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "DEFAULT_BUCKETS",
    "PERCENTILES",
    "Bucket",
    "LatencyRecorder",
    "LatencySummary",
    "histogram",
    "percentile",
    "summarize",
]

#: Percentiles reported by :func:`summarize`, in the order of ``LatencySummary.distribution()``.
PERCENTILES: tuple[float, ...] = (50, 90, 95, 99, 99.9)
#: Histogram buckets of ghz's report.
DEFAULT_BUCKETS = 10


def _exact(q: float) -> Fraction:
    """Return q as the decimal the caller wrote (``99.9`` -> 999/10), not its binary float."""
    if isinstance(q, bool) or not isinstance(q, int | float):
        raise TypeError(f"percentile must be a number, got {type(q).__name__}")
    if isinstance(q, float) and not math.isfinite(q):
        raise ValueError(f"percentile must be finite, got {q}")
    return Fraction(q) if isinstance(q, int) else Fraction(repr(q))


def percentile(sorted_samples: Sequence[int], q: float) -> int:
    """Return the nearest-rank q-th percentile (0 <= q <= 100) of ascending samples.

    The caller sorts once and asks for several percentiles; an empty sequence has no
    percentile and raises ``ValueError`` rather than returning a made-up 0.
    """
    exact = _exact(q)
    if not 0 <= exact <= 100:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("percentile of no samples")
    rank = math.ceil(exact * n / 100)
    return sorted_samples[max(rank, 1) - 1]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One histogram bucket: the samples in (previous mark, mark]; the first starts at the fastest.

    ``mark`` is the bucket's upper bound in nanoseconds and ``frequency`` the fraction (0..1) of
    all samples in the bucket, as in ghz's report.
    """

    mark_ns: int
    count: int
    frequency: float


def histogram(sorted_samples: Sequence[int], buckets: int = DEFAULT_BUCKETS) -> tuple[Bucket, ...]:
    """Split [fastest, slowest] into equal-width buckets and count the samples in each.

    Marks are integer ns (``fastest + span * (i + 1) // buckets``) and the last mark is exactly
    the slowest sample, so every sample lands in a bucket and the counts sum to ``len``. When all
    samples are equal the first bucket holds them all. No samples give no buckets.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    n = len(sorted_samples)
    if n == 0:
        return ()
    fastest, slowest = sorted_samples[0], sorted_samples[-1]
    span = slowest - fastest
    marks = [fastest + span * (i + 1) // buckets for i in range(buckets - 1)]
    marks.append(slowest)
    result: list[Bucket] = []
    below = 0
    for mark in marks:
        upto = bisect_right(sorted_samples, mark)
        count = upto - below
        below = upto
        result.append(Bucket(mark_ns=mark, count=count, frequency=count / n))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Statistics of one set of latency samples, all durations in integer nanoseconds.

    ``total_ns`` is the sum of the samples (not the wall-clock length of the run, which the
    report calls ``total``). With no samples every duration is 0 and ``histogram`` is empty.
    """

    count: int
    total_ns: int
    average_ns: int
    fastest_ns: int
    slowest_ns: int
    p50_ns: int
    p90_ns: int
    p95_ns: int
    p99_ns: int
    p999_ns: int
    histogram: tuple[Bucket, ...]

    def distribution(self) -> tuple[tuple[float, int], ...]:
        """Return ``(percentage, latency_ns)`` pairs in :data:`PERCENTILES` order."""
        values = (self.p50_ns, self.p90_ns, self.p95_ns, self.p99_ns, self.p999_ns)
        return tuple(zip(PERCENTILES, values, strict=True))


def summarize(samples: Iterable[int], *, buckets: int = DEFAULT_BUCKETS) -> LatencySummary:
    """Sort the samples once and compute every statistic from the sorted copy."""
    ordered = array("q", sorted(samples))
    n = len(ordered)
    if n == 0:
        return LatencySummary(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ())
    total = sum(ordered)
    p50, p90, p95, p99, p999 = (percentile(ordered, q) for q in PERCENTILES)
    return LatencySummary(
        count=n,
        total_ns=total,
        average_ns=(total + n // 2) // n,
        fastest_ns=ordered[0],
        slowest_ns=ordered[-1],
        p50_ns=p50,
        p90_ns=p90,
        p95_ns=p95,
        p99_ns=p99,
        p999_ns=p999,
        histogram=histogram(ordered, buckets),
    )


class LatencyRecorder:
    """Append-only store of latency samples in nanoseconds.

    ``record`` is bound straight to ``array.append``, so recording is one C call with no
    per-sample Python object kept. A recorder is not locked: give each producer its own and
    :meth:`merge` them, or serialise the producers (the load generator records under the lock
    it already takes for its counters).
    """

    __slots__ = ("_samples", "record")

    record: Callable[[int], None]

    def __init__(self) -> None:
        self._samples = array("q")
        self.record = self._samples.append

    def __len__(self) -> int:
        return len(self._samples)

    def merge(self, other: LatencyRecorder) -> None:
        """Add another recorder's samples (e.g. one per worker) to this one."""
        self._samples.extend(other._samples)

    def samples(self) -> array[int]:
        """Return a copy of the samples in recording order."""
        return array("q", self._samples)

    def summarize(self, *, buckets: int = DEFAULT_BUCKETS) -> LatencySummary:
        """Summarize the samples recorded so far."""
        return summarize(self._samples, buckets=buckets)
