"""Open-loop pacing of the bench, driven by a fake clock: no test here waits on real time."""

from __future__ import annotations

import math

import pytest

from xtenant_pdp.bench.pacing import NS_PER_S, Bounds, Mode, Pacer, Schedule

MS = 1_000_000


class FakeClock:
    """A monotonic ns clock that only moves when slept on or advanced by the test."""

    def __init__(self, start_ns: int = 0) -> None:
        self.t = start_ns
        self.sleeps: list[int] = []

    def now(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        ns = round(seconds * NS_PER_S)
        self.sleeps.append(ns)
        self.t += ns

    def advance(self, ns: int) -> None:
        self.t += ns


def test_modes() -> None:
    assert Mode("closed") is Mode.CLOSED
    assert Mode("open") is Mode.OPEN
    assert {m.value for m in Mode} == {"closed", "open"}


def test_intended_times_are_start_plus_i_over_rate() -> None:
    s = Schedule(10, start_ns=5_000)
    assert s.start_ns == 5_000
    assert [s.intended_time(i) for i in range(4)] == [5_000, 5_000 + 100 * MS, 5_000 + 200 * MS, 5_000 + 300 * MS]


def test_intended_times_are_exact_for_any_index() -> None:
    third = Schedule(3, start_ns=0)
    assert third.intended_time(1) == 333_333_333  # rounded down
    assert third.intended_time(3 * 10**9) == 10**18  # no float drift after a billion requests
    assert Schedule(99.9, start_ns=0).intended_time(999) == 10 * NS_PER_S  # 99.9 is 999/10, not its float
    assert Schedule(0.5, start_ns=0).intended_time(3) == 6 * NS_PER_S


def test_sleep_before_lag_and_latency() -> None:
    s = Schedule(100, start_ns=1_000 * MS)  # one request every 10 ms
    assert s.sleep_before(2, now_ns=1_005 * MS) == 15 * MS
    assert s.sleep_before(2, now_ns=1_030 * MS) == 0
    assert s.lag(2, now_ns=1_030 * MS) == 10 * MS
    assert s.lag(2, now_ns=1_000 * MS) == 0
    assert s.latency(2, completed_ns=1_023 * MS) == 3 * MS


def test_count_within_and_first_due_at() -> None:
    assert Schedule(200, 0).count_within(NS_PER_S // 2) == 100
    assert Schedule(10, 0).count_within(NS_PER_S) == 10  # request 10 is due at 1 s, outside [0, 1 s)
    assert Schedule(10, 0).count_within(NS_PER_S + 1) == 11
    assert Schedule(3, 0).count_within(NS_PER_S) == 3
    assert Schedule(3, 0).count_within(0) == 0
    assert Schedule(3, 0).count_within(-5) == 0
    s = Schedule(10, start_ns=7)
    assert s.first_due_at(7) == 0
    assert s.first_due_at(8) == 1
    assert s.first_due_at(7 + 250 * MS) == 3
    assert s.first_due_at(0) == 0


@pytest.mark.parametrize("rate", [0, -1, math.nan, math.inf, -math.inf])
def test_schedule_rejects_bad_rates(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        Schedule(rate, 0)


def test_schedule_rejects_non_numbers() -> None:
    with pytest.raises(TypeError):
        Schedule(True, 0)
    with pytest.raises(TypeError):
        Schedule("10", 0)  # type: ignore[arg-type]


def test_pacer_sleeps_until_each_intended_time() -> None:
    clock = FakeClock(start_ns=1_000 * MS)
    pacer = Pacer(Schedule(10, clock.now()), now=clock.now, sleep=clock.sleep)
    sent = []
    for i in range(4):
        intended = pacer.wait(i)
        assert clock.now() == intended
        sent.append(clock.now())
    assert sent == [1_000 * MS, 1_100 * MS, 1_200 * MS, 1_300 * MS]
    assert clock.sleeps == [100 * MS] * 3


def test_pacer_does_not_send_early_when_sleep_returns_early() -> None:
    clock = FakeClock()

    def short_sleep(seconds: float) -> None:
        clock.advance(max(1, round(seconds * NS_PER_S) // 3))

    pacer = Pacer(Schedule(10, 0), now=clock.now, sleep=short_sleep)
    assert pacer.wait(1) == 100 * MS
    assert clock.now() >= 100 * MS


def test_a_stall_does_not_shift_later_requests_and_shows_in_their_latency() -> None:
    """Request 1's send stalls 350 ms: 2, 3 and 4 keep their times and carry the stall."""
    clock = FakeClock()
    schedule = Schedule(10, clock.now())  # every 100 ms
    pacer = Pacer(schedule, now=clock.now, sleep=clock.sleep)
    service_ns = 1 * MS
    intended_times, send_times, open_latency, closed_latency = [], [], [], []
    for i in range(6):
        intended = pacer.wait(i)
        sent = clock.now()
        if i == 1:
            clock.advance(350 * MS)  # e.g. a GC pause or a full send buffer
        clock.advance(service_ns)
        completed = clock.now()
        intended_times.append(intended)
        send_times.append(sent)
        open_latency.append(schedule.latency(i, completed))
        closed_latency.append(completed - sent)  # timing from the actual send, as a closed loop does

    assert intended_times == [i * 100 * MS for i in range(6)]  # unshifted by the stall
    assert send_times == [0, 100 * MS, 451 * MS, 452 * MS, 453 * MS, 500 * MS]  # catch-up, then on time
    assert open_latency == [1 * MS, 351 * MS, 252 * MS, 153 * MS, 54 * MS, 1 * MS]
    # Timed from the send, the requests queued behind the stall look as fast as ever.
    assert closed_latency == [1 * MS, 351 * MS, 1 * MS, 1 * MS, 1 * MS, 1 * MS]
    assert clock.sleeps == [99 * MS, 46 * MS]  # no sleeping while behind schedule


def test_bounds_by_count_time_or_both() -> None:
    by_count = Bounds(max_requests=3, end_ns=None)
    assert [by_count.admits(i, now_ns=10**15) for i in range(4)] == [True, True, True, False]
    by_time = Bounds(max_requests=None, end_ns=100)
    assert by_time.admits(10**9, now_ns=99)
    assert not by_time.admits(0, now_ns=100)
    both = Bounds(max_requests=2, end_ns=100)
    assert both.admits(1, 50)
    assert not both.admits(2, 50)
    assert not both.admits(0, 150)


def test_bounds_need_a_bound() -> None:
    with pytest.raises(ValueError, match="count or a duration"):
        Bounds(None, None)
    with pytest.raises(ValueError, match="max_requests"):
        Bounds(-1, None)
