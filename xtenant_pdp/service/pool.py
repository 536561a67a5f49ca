"""The call pool: a thread per call in progress, up to a cap, and none kept that has nothing to do.

``concurrent.futures.ThreadPoolExecutor`` never lets a thread go, so a pool sized for the worst
moment (half-sent calls each hold a thread while gRPC waits for their request) keeps that many
threads for the life of the process: the soak saw threads ratchet up with every busier second.
Here an idle thread waits on a lock of its own; work goes to the most recently idle one (warm, and
the others then age out), and a thread idle for ``idle_s`` ends, down to ``min_threads``. All
counts are kept under one lock.

Two other designs were measured and dropped. ThreadPoolExecutor's own (one shared queue, a
semaphore of idle threads, plus an idle timeout): its semaphore drifted once threads could end
(a call could be left to a thread that was gone), and with counters instead of the semaphore the
shared queue hands work to every waiting thread in turn, so under steady load none is ever idle
long enough to end: the soak's threads climbed 29.0 -> 32.2 again. Handing work to the most
recently idle thread is what lets the surplus age out.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent import futures
from typing import Any

#: How long a thread may wait for work before it ends (Java's ThreadPoolExecutor keeps 60 s;
#: a sidecar's bursts are short, and the thread counts it reports should follow them).
IDLE_S = 10.0

_Work = tuple[futures.Future, Callable[..., Any], tuple, dict]


class _Idle:
    """One waiting thread's hand-off slot: ``submit`` puts work in it and releases the lock."""

    __slots__ = ("ready", "work")

    def __init__(self) -> None:
        self.ready = threading.Lock()
        self.ready.acquire()
        self.work: _Work | None = None


class ElasticPool(futures.Executor):
    def __init__(
        self, max_threads: int, *, min_threads: int = 0, idle_s: float = IDLE_S, name: str = "grpc-call"
    ) -> None:
        if max_threads < 1 or not 0 <= min_threads <= max_threads:
            raise ValueError(f"threads: need 0 <= min {min_threads} <= max {max_threads}, max >= 1")
        self._max = max_threads
        self._min = min_threads
        self._idle_s = idle_s
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[_Idle] = []  # a stack: the last to go idle is the first to get work
        self._backlog: deque[_Work] = deque()
        self._threads = 0
        self._started = 0
        self._shutdown = False
        self._all_gone = threading.Condition(self._lock)

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future:
        future: futures.Future = futures.Future()
        work = (future, fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            if self._idle:
                slot = self._idle.pop()
                slot.work = work
                slot.ready.release()
                return future
            if self._threads >= self._max:
                self._backlog.append(work)
                return future
            self._threads += 1
            self._started += 1
            number = self._started
        try:
            threading.Thread(target=self._run, args=(work,), name=f"{self._name}-{number}", daemon=True).start()
        except RuntimeError as exc:  # the system's thread limit
            with self._lock:
                self._threads -= 1
                if self._threads:
                    self._backlog.append(work)  # a running thread takes it when it is free
                    return future
            future.set_exception(exc)
        return future

    def _run(self, work: _Work | None) -> None:
        slot = _Idle()
        while work is not None:
            _execute(work)
            work = self._next(slot)

    def _next(self, slot: _Idle) -> _Work | None:
        """The next work for this thread, or None when it should end."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft()
            if self._shutdown:
                return self._retire()
            self._idle.append(slot)
        while True:
            got = slot.ready.acquire(timeout=self._idle_s)
            with self._lock:
                if slot.work is not None:  # handed work, even if the wait timed out as it came
                    if not got:
                        slot.ready.acquire()  # released by the hand-off: take it, so the slot is reset
                    work, slot.work = slot.work, None
                    return work
                if got:  # woken with no work: shutdown
                    return self._retire()
                if self._threads > self._min or self._shutdown:
                    if slot in self._idle:
                        self._idle.remove(slot)
                    return self._retire()

    def _retire(self) -> None:
        self._threads -= 1
        if self._threads == 0:
            self._all_gone.notify_all()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._backlog:
                    self._backlog.popleft()[0].cancel()
            while self._idle:
                self._idle.pop().ready.release()
            if wait:
                self._all_gone.wait_for(lambda: self._threads == 0)


def _execute(work: _Work) -> None:
    future, fn, args, kwargs = work
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # the future carries it to whoever waits
        future.set_exception(exc)
    else:
        future.set_result(result)
