"""RELOAD: watch the snapshot source, load a changed one off the event loop, swap when whole.

Polls a cheap fingerprint (the resolved path and its inode, size and mtime, which changes on
the atomic symlink swap a Kubernetes ConfigMap mount does) and reloads on SIGHUP. A bad new
snapshot (corrupt, truncated, wrong version, failing compile) is logged and counted and the
last good one keeps serving; the reloader never raises into serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from xtenant_pdp.compiler import DEFAULT_OPTIONS, CompileOptions
from xtenant_pdp.errors import CompileErrors, SnapshotLoadError
from xtenant_pdp.index import Index, release_in_slices
from xtenant_pdp.loader import load_policy_dir, load_snapshot_file
from xtenant_pdp.metrics import Metrics
from xtenant_pdp.service.holder import Active, SnapshotHolder

log = logging.getLogger("xtenant_pdp.reload")


class SnapshotSource(Protocol):
    description: str

    def fingerprint(self) -> object:
        """Cheap to compute; changes whenever the content may have changed."""

    def load(self) -> Index:
        """Raises SnapshotLoadError or CompileErrors."""


def _stat_key(path: Path) -> tuple[object, ...]:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError as exc:
        return ("missing", str(exc))
    return (real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class SnapshotFileSource:
    path: Path

    @property
    def description(self) -> str:
        return str(self.path)

    def fingerprint(self) -> object:
        return _stat_key(self.path)

    def load(self) -> Index:
        return load_snapshot_file(self.path, freeze=True)


@dataclass(frozen=True)
class PolicyDirSource:
    path: Path
    options: CompileOptions = DEFAULT_OPTIONS

    @property
    def description(self) -> str:
        return f"policy directory {self.path}"

    def fingerprint(self) -> object:
        keys = []
        for folder, dirs, files in os.walk(self.path, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            keys.extend(_stat_key(Path(folder) / name) for name in sorted(files) if name.endswith(".json"))
        return tuple(keys)

    def load(self) -> Index:
        return load_policy_dir(self.path, self.options, freeze=True)


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
    ) -> None:
        self.source = source
        self.holder = holder
        self.metrics = metrics
        self.interval_s = interval_s
        self.on_change = on_change
        self._last_fingerprint: object = None
        self._wake = asyncio.Event()
        self._force = False
        self._releasing: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """Cancel what runs in the background (a retired index still being freed)."""
        for task in list(self._releasing):
            task.cancel()

    def request_reload(self) -> None:
        """SIGHUP: reload now even if the fingerprint did not change."""
        self._force = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            self._wake.clear()

    async def tick(self) -> Active | None:
        """One poll. Returns the new Active when a snapshot was activated."""
        force, self._force = self._force, False
        try:
            return await self._reload_if_changed(force)
        finally:
            self._refresh_staleness()

    async def _reload_if_changed(self, force: bool) -> Active | None:
        loop = asyncio.get_running_loop()
        fingerprint = await loop.run_in_executor(None, self.source.fingerprint)
        if not force and fingerprint == self._last_fingerprint:
            return None
        # Remember it even if the load fails: a broken file is retried once it changes (or on SIGHUP).
        self._last_fingerprint = fingerprint
        try:
            with _serving_thread_favoured():
                index = await loop.run_in_executor(None, self.source.load)
        except (SnapshotLoadError, CompileErrors, OSError) as exc:
            self._reject(exc)
            return None
        previous = self.holder.current
        active = self._activate(index)
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

    def _reject(self, exc: Exception) -> None:
        self.metrics.snapshot_load_failures.inc()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.holder.record_failure(message)
        issues = [str(i) for i in exc.issues[:20]] if isinstance(exc, CompileErrors) else []
        current = self.holder.current
        log.error(
            "snapshot rejected; the previous snapshot keeps serving",
            extra={
                "source": self.source.description,
                "error": message,
                "issues": issues,
                "active_snapshot": current.snapshot_id if current else None,
            },
        )

    def _activate(self, index: Index) -> Active | None:
        current = self.holder.current
        # Same content and same header: nothing to do. A recompile of the same policy has the same id
        # but a newer created time, which is what --max-snapshot-age measures: activate it.
        if current is not None and current.index.info == index.info:
            return None
        previous = current.snapshot_id if current is not None else None
        active = self.holder.activate(index, self.source.description)
        self.metrics.snapshot_activated(
            active.snapshot_id,
            previous,
            active.loaded_at,
            index.partner_count,
            len(index.tenants),
            index.info.created_at.timestamp(),
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
            },
        )
        self.on_change()
        return active

    def _refresh_staleness(self) -> None:
        was_stale = self.holder.stale
        stale = self.holder.refresh_staleness()
        self.metrics.snapshot_stale.set(1 if stale else 0)
        if stale != was_stale:
            log.warning("snapshot staleness changed", extra={"stale": stale, "age_s": self.holder.age_s()})
            self.on_change()
