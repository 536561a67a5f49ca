"""The control loop's watchdog: calls are answered on pool threads, so a hung event loop (reloader,
staleness timer, health updates) must show in health, liveness included, and be handed back."""

from __future__ import annotations

import time
from pathlib import Path

from server_kit import (
    NOT_SERVING,
    SERVING,
    Channels,
    InProcessServer,
    compile_example,
    settings_from_flags,
    wait_health,
)

from xtenant_pdp.app import LIVENESS_SERVICE
from xtenant_pdp.service.watchdog import LoopWatchdog


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_watchdog_calls_stall_once_and_recover_once() -> None:
    clock = _Clock()
    events: list[str] = []
    watchdog = LoopWatchdog(lambda: events.append("stall"), lambda: events.append("recover"), stall_s=5, clock=clock)
    clock.now += 4.9
    watchdog.check()
    assert events == [] and not watchdog.stalled
    clock.now += 0.2  # 5.1 s without a beat
    watchdog.check()
    watchdog.check()
    assert events == ["stall"] and watchdog.stalled
    watchdog.last_beat = clock.now  # the loop beats again
    watchdog.check()
    watchdog.check()
    assert events == ["stall", "recover"] and not watchdog.stalled


def test_a_blocked_event_loop_takes_health_down_liveness_included_and_back(tmp_path: Path, channels: Channels) -> None:
    snapshot = tmp_path / "example.xtsnap"
    snapshot.write_bytes(compile_example().data)
    settings = settings_from_flags("--snapshot", str(snapshot), "--listen", "127.0.0.1:0", "--metrics-listen", "off")
    srv = InProcessServer(settings, loop_stall_s=1.0).start()
    try:
        channel = channels.open(srv.tcp_target)
        wait_health(channel, SERVING)
        wait_health(channel, SERVING, LIVENESS_SERVICE)
        srv.loop.call_soon_threadsafe(time.sleep, 4.0)  # the control loop hangs; the pool still answers
        wait_health(channel, NOT_SERVING, LIVENESS_SERVICE, timeout=10)
        wait_health(channel, NOT_SERVING, timeout=1)
        wait_health(channel, SERVING, LIVENESS_SERVICE, timeout=15)
        wait_health(channel, SERVING, timeout=5)
    finally:
        srv.close()
