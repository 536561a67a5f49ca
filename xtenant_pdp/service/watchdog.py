"""WATCH: the control loop's heartbeat, seen from a thread of its own.

Calls are answered on the gRPC pool's threads, while the reloader, the staleness timer and the
health updates run on the event loop. A hung or dead loop would therefore go unnoticed by the
probes, which the pool keeps answering: the watchdog turns the health services NOT_SERVING
(liveness included, so Kubernetes restarts the pod) once the loop has not beaten for ``stall_s``,
and hands them back when it beats again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("xtenant_pdp.server")

#: How often the loop beats and the watchdog looks.
BEAT_S = 1.0
#: A loop silent this long is stalled: far beyond any pause a reload's build or a busy machine gives it.
STALL_S = 15.0


class LoopWatchdog:
    def __init__(
        self,
        on_stall: Callable[[], None],
        on_recover: Callable[[], None],
        *,
        stall_s: float = STALL_S,
        beat_s: float = BEAT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_stall = on_stall
        self._on_recover = on_recover
        self._stall_s = stall_s
        self._beat_s = beat_s
        self._clock = clock
        self.last_beat = clock()
        self.stalled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)

    async def beat(self) -> None:
        """Runs on the loop for the server's lifetime."""
        while True:
            self.last_beat = self._clock()
            await asyncio.sleep(self._beat_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One look (the thread's loop body)."""
        silent = self._clock() - self.last_beat
        if silent > self._stall_s and not self.stalled:
            self.stalled = True
            log.error("event loop stalled: health NOT_SERVING until it answers again", extra={"silent_s": silent})
            self._on_stall()
        elif silent <= self._stall_s and self.stalled:
            self.stalled = False
            log.warning("event loop answers again", extra={"silent_s": silent})
            self._on_recover()

    def _watch(self) -> None:
        while not self._stop.wait(self._beat_s):
            try:
                self.check()
            except Exception:  # a health callback that fails must not end the watch
                log.exception("loop watchdog check failed")
