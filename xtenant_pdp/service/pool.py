"""The call pool: a thread per call in progress, up to a cap, and none kept that has nothing to do.

``concurrent.futures.ThreadPoolExecutor`` never lets a thread go, so a pool sized for the worst
moment (half-sent calls each hold a thread while gRPC waits for their request) keeps that many
threads for the life of the process: the soak saw threads ratchet up with every busier second.
This is its design (one shared queue, a new thread only when no waiting thread is left for a
call) with two additions: a thread that finishes a call while SPARE others already wait ends, and
a thread that waits ``idle_s`` for work ends, down to ``min_threads``. Queued calls and waiting
threads are counted under one lock (a semaphore of idle threads, as ThreadPoolExecutor keeps,
drifted once threads could end: a call could be left to a thread that was gone).

Also measured and dropped: handing each call to the most recently idle thread's own lock. It let
the surplus age out, but cost about 10% more CPU per call side by side with ThreadPoolExecutor,
and with it a Health/Watch stream waiting for a free HTTP/2 stream was refused (REFUSED_STREAM)
after another was cancelled (tests/test_issue9_edge.py's stream-limit test, every time).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

#: How long a thread may wait for work before it ends (Java's ThreadPoolExecutor keeps 60 s;
#: a sidecar's bursts are short, and the thread counts it reports should follow them).
IDLE_S = 10.0

#: Waiting threads kept beyond the calls in progress: a thread that finishes a call while this
#: many already wait ends at once. The shared queue hands work to every waiting thread in turn,
#: so under steady load no thread is ever idle for IDLE_S; without this the count only grew (the
#: soak: 29.0 -> 32.2 threads in 150 s).
SPARE = 8

_Work = tuple[futures.Future, Callable[..., Any], tuple, dict]


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
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        # Counted under one lock, so they cannot drift: calls in the queue, and threads waiting
        # on it. A call is left to the waiting threads only while there are as many as calls.
        self._lock = threading.Lock()
        self._all_gone = threading.Condition(self._lock)
        self._queued = 0
        self._idle = 0
        self._threads = 0
        self._started = 0
        self._shutdown = False

    @property
    def threads(self) -> int:
        return self._threads

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future:
        future: futures.Future = futures.Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit after shutdown")
            self._work.put((future, fn, args, kwargs))
            self._queued += 1
            if self._queued <= self._idle or self._threads >= self._max:
                return future  # a waiting thread takes it, or the first to finish does
            self._threads += 1
            self._started += 1
            number = self._started
        try:
            threading.Thread(target=self._run, name=f"{self._name}-{number}", daemon=True).start()
        except RuntimeError:  # the system's thread limit: a running thread takes it when free
            with self._lock:
                self._threads -= 1
                alone = self._threads == 0
            if alone:
                raise
        return future

    def _run(self) -> None:
        work_queue, lock = self._work, self._lock
        while True:
            with lock:
                self._idle += 1
            try:
                work = work_queue.get(timeout=self._idle_s)
            except queue.Empty:
                with lock:
                    self._idle -= 1
                    # End only when no queued call is counting on the waiting threads.
                    if self._queued == 0 and self._threads > self._min:
                        self._end()
                        return
                continue
            with lock:
                self._idle -= 1
                if work is None:  # shutdown: pass the word on to the next thread
                    work_queue.put(None)
                    self._end()
                    return
                self._queued -= 1
            _execute(work)
            del work
            with lock:  # enough threads already wait: this one is surplus (see SPARE)
                if self._idle >= SPARE and self._queued == 0 and self._threads > self._min:
                    self._end()
                    return

    def _end(self) -> None:
        """One thread fewer (the lock held)."""
        self._threads -= 1
        if self._threads == 0:
            self._all_gone.notify_all()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        work = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if work is not None:
                        self._queued -= 1
                        work[0].cancel()
            self._work.put(None)
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
