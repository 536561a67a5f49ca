"""Server processes: spawn, wait until serving, read CPU and RSS, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.common import READY_TIMEOUT, REPO

# --------------------------------------------------------------------------- server processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A server (or client) process with its stderr in a file; ``stop()`` ends it and waits."""

    def __init__(self, name: str, argv: Sequence[str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, *argv], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def status_kib(self, key: str) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return None

    def cpu_s(self) -> float | None:
        """User + system CPU seconds of the process (all its threads) so far."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int | None:
        kib = self.status_kib("VmRSS")
        return None if kib is None else kib * 1024

    def peak_rss_bytes(self) -> int | None:
        kib = self.status_kib("VmHWM")
        return None if kib is None else kib * 1024

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


class Procs:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.all: list[Proc] = []

    def spawn(self, name: str, argv: Sequence[str]) -> Proc:
        proc = Proc(name, argv, self.workdir)
        self.all.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.all:
            self.all.remove(proc)

    def close(self) -> None:
        while self.all:
            self.all.pop().stop()


def wait_serving(proc: Proc, target: str, timeout: float = READY_TIMEOUT) -> float:
    """Poll grpc.health.v1 until SERVING; return seconds since the process was spawned."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if not proc.alive():
                raise SystemExit(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
            with contextlib.suppress(grpc.RpcError):
                answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - proc.started
            if time.monotonic() > deadline:
                raise SystemExit(f"{proc.name} not SERVING within {timeout:g}s:\n{proc.tail()}")
            time.sleep(0.05)


def wait_connectable(proc: Proc, target: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise SystemExit(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
        with grpc.insecure_channel(target) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=1.0)
                return
            except grpc.FutureTimeoutError:
                pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{proc.name} not reachable within {timeout:g}s:\n{proc.tail()}")


def serve_args(snapshot_path: Path, *listen: str, extra: Sequence[str] = (), cache: bool = False) -> list[str]:
    """``serve`` arguments. The decision cache is off (``--cache-size 0``) unless ``cache``: with it on,
    a benchmark cycling a fixed set of questions would measure cache hits, not decisions."""
    args = ["-m", "xtenant_pdp", "serve", "--snapshot", str(snapshot_path), "--metrics-listen", "off"]
    for address in listen:
        args += ["--listen", address]
    if not cache:
        args += ["--cache-size", "0"]
    return [*args, "--shutdown-delay", "0s", "--grace-period", "2s", *extra]


def default_cache_size() -> int:
    from xtenant_pdp.config import Settings

    return int(Settings.__dataclass_fields__["cache_size"].default)


