"""RELOAD: watch the snapshot source, load a changed one off the event loop, swap when whole.

Polls a cheap fingerprint (the resolved path and its inode, size and mtime, which changes on
the atomic symlink swap a Kubernetes ConfigMap mount does) and reloads on SIGHUP. A bad new
snapshot (corrupt, truncated, wrong version, failing compile, hash-consistent but impossible
to index, unreadable, not a regular file, a read that hangs) is logged and counted and the
last good one keeps serving. Nothing here may end quietly (issue 9):

* every exception of a load attempt is a rejected snapshot; the poll loop never stops, and if
  its task dies anyway it is logged, health goes NOT_SERVING and it is restarted;
* reads and directory walks run on daemon threads under a time limit: a read stuck on a hung
  mount is abandoned and counted, never retried while it hangs, and never waited for at exit;
* staleness belongs to the active generation (holder.Active.expires_at) and is checked on
  every request; :class:`StalenessWatch` flips health and the gauge on its own timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from xtenant_pdp.errors import CompileErrors, SnapshotLoadError, SnapshotMissing
from xtenant_pdp.index import Index, release_in_slices
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service.holder import FUTURE_SKEW_S, Active, SnapshotHolder
from xtenant_pdp.service.sources import PolicyDirSource, SnapshotFileSource, SnapshotSource

__all__ = ["PolicyDirSource", "Reloader", "SnapshotFileSource", "SnapshotSource", "StalenessWatch", "StuckRead"]

log = logging.getLogger("xtenant_pdp.reload")

T = TypeVar("T")

#: Pause before a reloader task that died is started again.
RESTART_DELAY_S = 1.0
#: Longest the staleness watch sleeps between two looks (it wakes at the deadline itself too).
STALENESS_WATCH_MAX_SLEEP_S = 1.0


class StuckRead(Exception):
    """A read or walk outlived its time limit: abandoned on its daemon thread."""


def off_loop(fn: Callable[[], T], *, name: str) -> asyncio.Future[T]:
    """``fn()`` on a new daemon thread; its outcome lands in the returned future.

    Not the loop's default executor: asyncio.run joins that executor's threads at exit, so one
    read stuck on a hung mount would keep a SIGTERMed process alive forever (issue 9, D2). A
    daemon thread is never waited for; abandoned, it ends with the process.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed over to the awaiting task
            outcome: tuple[Callable[[Any], None], Any] = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(deliver, *outcome)

    # An abandoned future's error is retrieved here, so it is never logged as "never retrieved".
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    threading.Thread(target=run, name=name, daemon=True).start()
    return future


#: GIL hand-over interval while an index builds on a worker thread (Python's default: 5 ms).
BUILD_SWITCH_INTERVAL_S = 0.0005


@contextlib.contextmanager
def _serving_thread_favoured() -> Iterator[None]:
    """A build is seconds of pure Python on a worker thread. Each time the event loop wakes for
    a call it must wait for the GIL until the builder's switch interval runs out: at the
    default 5 ms, calls/s fell to an eighth during a 100,000-partner reload. A shorter interval
    hands the GIL over sooner, for a slightly slower build. The interval is process-wide: with
    several servers in one process (tests), the first build in sets it and the last one out
    restores it."""
    with _builds_lock:
        if not _builds:
            _interval_before.append(sys.getswitchinterval())
            sys.setswitchinterval(min(_interval_before[-1], BUILD_SWITCH_INTERVAL_S))
        _builds.append(None)
    try:
        yield
    finally:
        with _builds_lock:
            _builds.pop()
            if not _builds:
                sys.setswitchinterval(_interval_before.pop())


_builds_lock = threading.Lock()
_builds: list[None] = []  # one entry per build in progress
_interval_before: list[float] = []


async def _release(index: Index) -> None:
    for _ in release_in_slices(index):
        await asyncio.sleep(0)


class StalenessWatch:
    """Flips the stale gauge and health when the active snapshot's ``expires_at`` passes, on a
    timer of its own: neither waits for a reload tick, so a reloader that died or hangs cannot
    keep an expired snapshot looking healthy (issue 9, D1). Requests do not depend on it: they
    read ``active.stale`` themselves."""

    def __init__(self, holder: SnapshotHolder, metrics: Metrics, on_change: Callable[[], None]) -> None:
        self.holder = holder
        self.metrics = metrics
        self.on_change = on_change
        self._stale: bool | None = None

    def check(self) -> bool:
        active = self.holder.current
        stale = active is not None and active.stale
        if stale != self._stale:
            self.metrics.snapshot_stale.set(1 if stale else 0)
            if stale or self._stale:
                log.warning("snapshot staleness changed", extra={"stale": stale, "age_s": self.holder.age_s()})
            self._stale = stale
            self.on_change()
        return stale

    async def run(self) -> None:
        while True:
            try:
                self.check()
            except Exception:
                log.exception("staleness check failed")
            active = self.holder.current
            delay = STALENESS_WATCH_MAX_SLEEP_S
            if active is not None and not active.stale:
                delay = min(delay, max(active.expires_at - time.time(), 0.0) + 0.001)
            await asyncio.sleep(delay)


class Reloader:
    """Owns what changes the active snapshot: the first load, polling and SIGHUP."""

    def __init__(
        self,
        source: SnapshotSource,
        holder: SnapshotHolder,
        metrics: Metrics,
        *,
        interval_s: float = 2.0,
        on_change: Callable[[], None] = lambda: None,
        audit: Callable[[Index, Index], object] | None = None,
    ) -> None:
        self.source = source
        self.holder = holder
        self.metrics = metrics
        self.interval_s = interval_s
        self.on_change = on_change
        self.staleness = StalenessWatch(holder, metrics, self._changed)
        #: False while the poll task is dead and waiting to be restarted: health NOT_SERVING.
        self.running = True
        #: Called with (previous, new) index after each activation that replaces one, on a worker thread.
        self.audit = audit
        self._last_fingerprint: object = None
        self._wake = asyncio.Event()
        self._force = False
        self._releasing: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        #: A read or walk that outlived its time limit and still runs on its thread.
        self._stuck: asyncio.Future[Any] | None = None

    def _changed(self) -> None:
        self.on_change()  # looked up late: app.py sets on_change after construction

    @property
    def serving(self) -> bool:
        """What health reports: a fresh snapshot and a live reloader."""
        return self.running and self.holder.serving

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Run the poll loop and the staleness watch as supervised tasks."""
        self._spawn(self.run, "reloader")
        self._spawn(self.staleness.run, "staleness watch")

    def _spawn(self, body: Callable[[], Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(body(), name=f"xtenant-pdp {what}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._ended(t, body, what))

    def _ended(self, task: asyncio.Task[None], body: Callable[[], Any], what: str) -> None:
        self._tasks.discard(task)
        if self._stopping or task.cancelled():
            return
        exc = task.exception()
        self.running = False
        self.metrics.reloader_restarts.inc()
        log.error(
            f"{what} stopped unexpectedly; NOT_SERVING until it is restarted",
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
            extra={"restart_in_s": RESTART_DELAY_S},
        )
        self.on_change()
        asyncio.get_running_loop().call_later(RESTART_DELAY_S, self._restart, body, what)

    def _restart(self, body: Callable[[], Any], what: str) -> None:
        if self._stopping:
            return
        log.warning(f"{what} restarted")
        self._spawn(body, what)
        self._wake.set()

    def stop(self) -> None:
        """Cancel what runs in the background (the loops, a retired index still being freed).
        A stuck read is not waited for: its daemon thread ends with the process."""
        self._stopping = True
        for task in [*self._tasks, *self._releasing]:
            task.cancel()

    def request_reload(self) -> None:
        """SIGHUP: reload now even if the fingerprint did not change."""
        self._force = True
        self._wake.set()

    # ------------------------------------------------------------------ the poll loop

    async def run(self) -> None:
        while True:
            await self.tick()
            if not self.running:
                self.running = True
                self.on_change()
            await self._sleep()

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
        self._wake.clear()

    async def tick(self) -> Active | None:
        """One poll. Returns the new Active when a snapshot was activated. Never raises
        (but for cancellation): whatever goes wrong is a rejected snapshot."""
        force, self._force = self._force, False
        try:
            return await self._reload_if_changed(force)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of a load is a rejected snapshot
            self._reject(exc)
            return None
        finally:
            self.staleness.check()

    async def _bounded(self, fn: Callable[[], T], what: str) -> T:
        """``fn()`` off the loop under the source's time limit; StuckRead when it outlives it."""
        future = off_loop(fn, name=f"xtenant-pdp {what}")
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout=self.source.read_timeout_s)
        except TimeoutError:
            self._stuck = future
            future.add_done_callback(self._unstuck)
            self.metrics.snapshot_read_timeouts.inc()
            raise StuckRead(
                f"{self.source.description}: {what} did not finish within {self.source.read_timeout_s:g}s "
                "(hung mount?); abandoned, retried once it returns"
            ) from None

    def _unstuck(self, future: asyncio.Future[Any]) -> None:
        if self._stuck is future:
            self._stuck = None
            self._last_fingerprint = None  # look again, whatever the fingerprint says
            log.info("a stuck snapshot read returned", extra={"source": self.source.description})
            self._wake.set()

    async def _reload_if_changed(self, force: bool) -> Active | None:
        if self._stuck is not None:
            # One abandoned read at a time: never pile up threads on a hung mount.
            self._force = self._force or force
            return None
        fingerprint = await self._bounded(self.source.fingerprint, "fingerprint")
        if not force and fingerprint == self._last_fingerprint:
            return None
        # Remember it even if the load fails: a broken file is retried once it changes (or on SIGHUP).
        self._last_fingerprint = fingerprint
        data = await self._bounded(self.source.read, "read")
        with _serving_thread_favoured():
            index = await off_loop(functools.partial(self.source.build, data), name="xtenant-pdp build")
        del data
        previous = self.holder.current
        active = self._activate(index)
        if active is not None and previous is not None and self.audit is not None:
            await self._audit(previous.index, index)
        # Whichever index no longer serves is freed a slice at a time on the loop: dropped at
        # once, 100,000 partners take 0.25 s of deallocation with the GIL held.
        if active is None:
            retired: Index | None = index  # not activated (the same snapshot again)
        elif previous is not None:
            retired = previous.index
        else:
            retired = None  # the first load replaces nothing
        del previous, index
        if retired is not None:
            task = asyncio.get_running_loop().create_task(_release(retired))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
        return active

    async def _audit(self, before: Index, after: Index) -> None:
        """The change of what is enforced, on record (service/audit.py), off the loop and before
        the old index is freed."""
        try:
            with _serving_thread_favoured():
                await off_loop(functools.partial(self.audit, before, after), name="xtenant-pdp audit")
        except Exception:
            log.exception("audit of the snapshot change failed; the new snapshot serves")

    def _reject(self, exc: Exception) -> None:
        self.metrics.snapshot_load_failures.inc()
        expected = isinstance(exc, SnapshotLoadError | CompileErrors | StuckRead | OSError)
        text = str(exc)
        message = text.splitlines()[0] if text else type(exc).__name__
        if not expected:  # a bug or an input no check foresaw: say what it was, still one line
            message = f"{self.source.description}: unexpected {type(exc).__name__}: {message}"
        issues = [str(i) for i in exc.issues[:20]] if isinstance(exc, CompileErrors) else []
        current = self.holder.current
        if isinstance(exc, SnapshotMissing) and current is None:  # issue 10 item 5: nothing serves yet
            what = "snapshot rejected: the file does not exist (yet); NOT_SERVING, waiting for it to appear"
        elif current is not None:
            what = "snapshot rejected; the previous snapshot keeps serving"
        else:
            what = "snapshot rejected; NOT_SERVING until a valid snapshot loads"
        log.error(
            what,
            extra={
                "source": self.source.description,
                "error": message,
                "issues": issues,
                "active_snapshot": current.snapshot_id if current else None,
            },
        )
        if not expected:
            log.debug("rejected snapshot's traceback", exc_info=(type(exc), exc, exc.__traceback__))

    def _activate(self, index: Index) -> Active | None:
        current = self.holder.current
        # Same content and same header: nothing to do. A recompile of the same policy has the same id
        # but a newer created time, which is what --max-snapshot-age measures: activate it.
        if current is not None and current.index.info == index.info:
            return None
        previous = current.snapshot_id if current is not None else None
        active = self.holder.activate(index, self.source.description)
        created_at = index.info.created_at.timestamp()
        self.metrics.snapshot_activated(
            active.snapshot_id,
            previous,
            active.loaded_at,
            index.partner_count,
            len(index.tenants),
            created_at,
        )
        log.info(
            "snapshot activated",
            extra={
                "snapshot_id": active.snapshot_id,
                "previous": previous,
                "generation": active.generation,
                "tenants": len(index.tenants),
                "partners": index.partner_count,
                "source": self.source.description,
                "expires_at": active.expires_at if active.expires_at != float("inf") else None,
            },
        )
        if created_at > active.loaded_at + FUTURE_SKEW_S:
            log.warning(
                "snapshot created in the future; its age counts from activation instead",
                extra={"snapshot_id": active.snapshot_id, "created_at": index.info.created_at.isoformat()},
            )
        if active.stale:
            log.warning(
                "activated snapshot is already stale; decisions fail closed until a fresh one loads",
                extra={"snapshot_id": active.snapshot_id, "age_s": self.holder.age_s()},
            )
        self.on_change()
        return active
