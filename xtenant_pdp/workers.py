"""`serve --workers N`: N server processes sharing TCP ports (SO_REUSEPORT) under one supervisor.

Each worker is a fresh interpreter running `serve` with the same settings; the kernel spreads
connections across them. Their metrics go to prometheus_client's multiprocess files and the
supervisor alone serves /metrics, adding the workers' values up. Signals are forwarded
(SIGTERM/SIGINT stop, SIGHUP reloads). If a worker dies on its own, the supervisor stops the
others and exits non-zero so that the orchestrator restarts the whole set.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

from xtenant_pdp.config import Settings

log = logging.getLogger("xtenant_pdp.workers")

WORKER_ENV = "XTENANT_PDP_WORKER_INDEX"


def worker_command(argv: Sequence[str]) -> list[str]:
    """The supervisor's own `serve` arguments, minus what only the supervisor does."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--metrics-listen"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--metrics-listen=")):
            continue
        out.append(arg)
    return [sys.executable, "-m", "xtenant_pdp", *out, "--workers", "1", "--metrics-listen", "off"]


def run_workers(settings: Settings, argv: Sequence[str]) -> int:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

    if any(a.raw.endswith(":0") for a in settings.listen):
        log.error("--workers needs fixed ports: every worker must bind the same port")
        return 64
    metrics_dir = tempfile.mkdtemp(prefix="xtenant-pdp-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    for name in ("XTENANT_PDP_WORKERS", "XTENANT_PDP_METRICS_LISTEN"):
        env.pop(name, None)
    http_server = None
    if settings.metrics_listen is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=metrics_dir)
        host, _, port = settings.metrics_listen.rpartition(":")
        http_server, _ = start_http_server(int(port), addr=host or "0.0.0.0", registry=registry)
    command = worker_command(argv)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    # Before the workers start: a signal meanwhile reaches the ones already started (issue 9, D11).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    for i in range(settings.workers):
        if not stopping:
            children.append(subprocess.Popen(command, env={**env, WORKER_ENV: str(i)}))
    log.info("workers started", extra={"workers": [c.pid for c in children], "metrics": settings.metrics_listen})
    code = 0
    try:
        while any(c.poll() is None for c in children):
            for child in children:
                if child.poll() is not None and not stopping:
                    log.error(
                        "worker exited unexpectedly; stopping all", extra={"pid": child.pid, "code": child.returncode}
                    )
                    code = 1
                    forward(signal.SIGTERM, None)
            time.sleep(0.1)
        deadline = time.monotonic() + settings.shutdown_delay_s + settings.grace_period_s + 5
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                code = 1
            if child.returncode != 0:
                code = code or 1
            mark_process_dead(child.pid, metrics_dir)
    finally:
        if http_server is not None:
            http_server.shutdown()
            http_server.server_close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    log.info("workers stopped", extra={"code": code})
    return code
