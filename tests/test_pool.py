"""The call pool (service/pool.py): a thread per call in progress up to its cap, threads that end
when idle (issue 9's soak: threads flat), and every submitted call run exactly once."""

from __future__ import annotations

import threading
import time

import pytest

from xtenant_pdp.service.pool import ElasticPool


def _wait(predicate, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_blocked_calls_each_get_a_thread_so_a_later_call_is_not_stuck_behind_them() -> None:
    pool = ElasticPool(20, idle_s=5)
    gate = threading.Event()
    try:
        blocked = [pool.submit(gate.wait, 10) for _ in range(10)]
        assert pool.submit(lambda: "answered").result(timeout=5) == "answered"
        assert pool.threads == 11
    finally:
        gate.set()
        pool.shutdown()
    assert all(f.result(timeout=5) for f in blocked)


def test_idle_threads_end_after_the_burst_so_the_count_follows_the_load() -> None:
    """Issue 9's soak: ThreadPoolExecutor kept every thread of its busiest second for good."""
    pool = ElasticPool(50, idle_s=0.2)
    gate = threading.Event()
    before = threading.active_count()
    burst = [pool.submit(gate.wait, 10) for _ in range(30)]
    assert pool.threads == 30
    gate.set()
    assert all(f.result(timeout=5) for f in burst)
    assert _wait(lambda: pool.threads == 0), pool.threads
    assert _wait(lambda: threading.active_count() <= before)
    assert pool.submit(lambda: 7).result(timeout=5) == 7  # and it starts again
    pool.shutdown()


def test_min_threads_stay() -> None:
    pool = ElasticPool(8, min_threads=2, idle_s=0.05)
    gate = threading.Event()
    calls = [pool.submit(gate.wait, 10) for _ in range(5)]
    gate.set()
    for f in calls:
        f.result(timeout=5)
    time.sleep(0.5)
    assert pool.threads == 2
    pool.shutdown()
    assert pool.threads == 0


def test_past_the_cap_calls_queue_and_each_runs_once() -> None:
    pool = ElasticPool(4, idle_s=0.01)  # idle_s tiny: hand-offs race with threads timing out
    seen: list[int] = []
    lock = threading.Lock()

    def record(n: int) -> int:
        with lock:
            seen.append(n)
        if n % 7 == 0:
            time.sleep(0.001)
        return n * 2

    results = []
    for burst in range(40):
        futures = [pool.submit(record, burst * 100 + k) for k in range(25)]
        results += [f.result(timeout=10) for f in futures]
        assert pool.threads <= 4
        time.sleep(0.005 * (burst % 4))
    assert sorted(seen) == sorted(b * 100 + k for b in range(40) for k in range(25))
    assert sorted(results) == sorted(2 * n for n in seen)
    pool.shutdown()


def test_an_exception_reaches_the_future_and_the_thread_lives_on() -> None:
    pool = ElasticPool(1)

    def boom() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        pool.submit(boom).result(timeout=5)
    assert pool.submit(lambda: "still here").result(timeout=5) == "still here"
    pool.shutdown()


def test_shutdown_waits_for_running_calls_and_refuses_new_ones() -> None:
    pool = ElasticPool(4, idle_s=60)
    done = []
    pool.submit(lambda: (time.sleep(0.2), done.append(1)))
    pool.submit(lambda: None).result(timeout=5)  # one idle thread to wake as well
    pool.shutdown(wait=True)
    assert done == [1] and pool.threads == 0
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_cancel_futures_drops_the_backlog() -> None:
    pool = ElasticPool(1)
    gate = threading.Event()
    running = pool.submit(gate.wait, 10)
    queued = pool.submit(lambda: "never")
    closer = threading.Thread(target=pool.shutdown, kwargs={"cancel_futures": True})
    closer.start()
    assert _wait(queued.cancelled)
    gate.set()
    closer.join(5)
    assert running.result(timeout=5) is True and not closer.is_alive()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        ElasticPool(0)
    with pytest.raises(ValueError):
        ElasticPool(2, min_threads=3)


def test_a_call_after_a_quiet_spell_always_gets_a_thread() -> None:
    """A semaphore of idle threads drifted: a call made while the pool was full and run by a
    thread that had just finished left one token too many, so after the threads ended a new
    call was left to a thread that no longer existed and never ran."""
    pool = ElasticPool(2, idle_s=0.1)
    gate = threading.Event()
    first = [pool.submit(gate.wait, 10) for _ in range(2)]
    third = pool.submit(lambda: "ran")  # the pool is full: it waits for a thread to finish
    gate.set()
    assert third.result(timeout=5) == "ran" and all(f.result(timeout=5) for f in first)
    assert _wait(lambda: pool.threads == 0)
    assert pool.submit(lambda: "after the quiet").result(timeout=5) == "after the quiet"
    pool.shutdown()


def test_with_a_minimum_a_new_call_never_waits_behind_a_blocked_one() -> None:
    pool = ElasticPool(4, min_threads=1, idle_s=0.1)
    gate = threading.Event()
    for _ in range(3):  # leave extra idle tokens behind, as above
        pool.submit(lambda: None).result(timeout=5)
    assert _wait(lambda: pool.threads == 1)
    blocked = pool.submit(gate.wait, 10)
    try:
        assert pool.submit(lambda: "answered").result(timeout=5) == "answered"
    finally:
        gate.set()
    assert blocked.result(timeout=5) is True
    pool.shutdown()


def test_work_submitted_is_never_left_behind_the_shutdown_marker() -> None:
    pool = ElasticPool(2, idle_s=0.05)
    results = [pool.submit(lambda n=n: n) for n in range(50)]
    pool.shutdown(wait=True)
    assert [f.result(timeout=5) for f in results] == list(range(50))


def test_threads_beyond_the_spare_ones_end_at_once_even_under_steady_work() -> None:
    """The shared queue gives work to every waiting thread in turn, so with steady work no thread
    is idle for idle_s: a thread that finishes while SPARE others wait ends instead."""
    from xtenant_pdp.service.pool import SPARE

    pool = ElasticPool(100, idle_s=60)
    gate = threading.Event()
    burst = [pool.submit(gate.wait, 10) for _ in range(30)]
    assert pool.threads == 30
    gate.set()
    assert all(f.result(timeout=5) for f in burst)
    for _ in range(200):  # steady trickle: each call finds a waiting thread
        pool.submit(lambda: None).result(timeout=5)
    assert _wait(lambda: pool.threads <= SPARE + 1), pool.threads
    pool.shutdown()
