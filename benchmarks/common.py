"""Shared by the suite's parts: the plan, the log line, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

REPO = Path(__file__).resolve().parent.parent
RPC_TIMEOUT = 5.0
READY_TIMEOUT = 120.0


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """How long and how big each part runs; ``--quick`` shrinks everything."""

    quick: bool
    sizes: tuple[int, ...]
    big: int | None
    questions: int
    passes: int
    peer_partners: tuple[int, ...]
    peer_questions: int
    duration_s: float
    warmup_s: float
    rounds: int
    fixed_rate_s: float
    server_partners: int
    reload_hold_s: float

    @classmethod
    def make(cls, *, quick: bool, big: bool) -> Plan:
        if quick:
            return cls(True, (10, 1000), None, 5000, 3, (10,), 500, 2.0, 0.5, 1, 3.0, 1000, 2.0)
        sizes = (10, 10_000, 100_000) if big else (10, 10_000)
        return cls(False, sizes, 100_000 if big else None, 20_000, 5, (10, 1000), 2000, 4.0, 1.0, 7, 10.0, 10_000, 5.0)


# --------------------------------------------------------------------------- machine facts


def machine_facts() -> dict[str, Any]:
    def cpu_model() -> str:
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        return platform.processor() or "unknown"

    def mem_total() -> int | None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
        return None

    def version(module: str) -> str | None:
        try:
            from importlib.metadata import version as v

            return v(module)
        except Exception:
            return None

    try:
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = [str(x) for x in os.getloadavg()]
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_bytes": mem_total(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "grpcio": grpc.__version__,
        "protobuf": version("protobuf"),
        "cedarpy": version("cedarpy"),
        "casbin": version("casbin"),
        "load_average_before": [float(x) for x in load],
    }


