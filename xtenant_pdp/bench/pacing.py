"""Load shapes and open-loop pacing, with the clock injected so tests need no real time.

A closed loop sends the next request when an answer comes back: it measures the throughput
the server sustains, but when the server stalls the client stops sending, so the requests that
*would* have waited are never measured (coordinated omission) and the tail looks better than
users would see it.

An open loop offers a fixed rate: request i is due at ``start + i / rate`` whatever happened
to the requests before it, and its latency is measured from that intended time. A stall of the
server or of the generator itself then shows up in the latency of every request it delayed.
All times are integer nanoseconds of one monotonic clock (``time.perf_counter_ns``).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["NS_PER_S", "Bounds", "Mode", "Pacer", "Schedule"]

NS_PER_S = 1_000_000_000


class Mode(enum.Enum):
    """How the load generator decides when to send."""

    #: Each of ``concurrency`` slots sends its next request when the previous one answers.
    CLOSED = "closed"
    #: Requests are sent at a fixed offered rate; latency counts from the intended send time.
    OPEN = "open"


class Schedule:
    """Intended send times of an open-loop run: request i is due at ``start + i / rate``.

    The times depend only on i, never on when earlier requests were really sent, so a late
    request does not push the following ones back. The rate is kept as an exact fraction so
    request 10**9 is as precisely placed as request 1.
    """

    __slots__ = ("_den", "_num", "_start_ns", "rate")

    def __init__(self, rate: float, start_ns: int) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float):
            raise TypeError(f"rate must be a number, got {type(rate).__name__}")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive finite number of requests/s, got {rate}")
        exact = Fraction(rate) if isinstance(rate, int) else Fraction(repr(rate))
        self.rate = float(rate)
        self._num = exact.numerator
        self._den = exact.denominator
        self._start_ns = start_ns

    @property
    def start_ns(self) -> int:
        return self._start_ns

    def intended_time(self, i: int) -> int:
        """Return when request i (0-based) is due, rounded down to the nanosecond."""
        return self._start_ns + i * NS_PER_S * self._den // self._num

    def sleep_before(self, i: int, now_ns: int) -> int:
        """Return how long to wait at ``now_ns`` before sending request i (0 when already due)."""
        return max(0, self.intended_time(i) - now_ns)

    def lag(self, i: int, now_ns: int) -> int:
        """Return how late request i is if sent at ``now_ns`` (0 when on time or early)."""
        return max(0, now_ns - self.intended_time(i))

    def latency(self, i: int, completed_ns: int) -> int:
        """Return the latency of request i as users see it: from its intended send time."""
        return completed_ns - self.intended_time(i)

    def first_due_at(self, t_ns: int) -> int:
        """Return the index of the first request due at or after ``t_ns``."""
        return self.count_within(t_ns - self._start_ns)

    def count_within(self, duration_ns: int) -> int:
        """Return how many requests are due in ``[start, start + duration)``."""
        if duration_ns <= 0:
            return 0
        # intended_time(i) - start < D  <=>  i * NS * den / num < D  <=>  i < D * num / (NS * den)
        return -(-duration_ns * self._num // (NS_PER_S * self._den))


class Pacer:
    """Waits until each request of a :class:`Schedule` is due.

    ``now`` returns the clock in ns and ``sleep`` takes seconds (``time.sleep``); tests pass a
    fake pair whose ``sleep`` advances ``now``. The pacer re-reads the clock after each sleep, so
    a sleep that returns early cannot make it send early.
    """

    __slots__ = ("_now", "_sleep", "schedule")

    def __init__(
        self,
        schedule: Schedule,
        *,
        now: Callable[[], int] = time.perf_counter_ns,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.schedule = schedule
        self._now = now
        self._sleep = sleep

    def wait(self, i: int) -> int:
        """Block until request i is due and return its intended time (at once if overdue)."""
        intended = self.schedule.intended_time(i)
        while (delay := intended - self._now()) > 0:
            self._sleep(delay / NS_PER_S)
        return intended


@dataclass(frozen=True, slots=True)
class Bounds:
    """When a run stops: after ``max_requests`` requests or at ``end_ns``, whichever is first.

    ``None`` leaves that bound open; a run needs at least one bound so it stops by itself.
    """

    max_requests: int | None
    end_ns: int | None

    def __post_init__(self) -> None:
        if self.max_requests is None and self.end_ns is None:
            raise ValueError("a run needs a request count or a duration")
        if self.max_requests is not None and self.max_requests < 0:
            raise ValueError(f"max_requests must be >= 0, got {self.max_requests}")

    def admits(self, i: int, now_ns: int) -> bool:
        """Return whether request i (0-based) may still be sent at ``now_ns``."""
        if self.max_requests is not None and i >= self.max_requests:
            return False
        return self.end_ns is None or now_ns < self.end_ns
