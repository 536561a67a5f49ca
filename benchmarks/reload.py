"""100,000 partners: the server's RSS and a hot reload under load."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from benchmarks.common import READY_TIMEOUT, RPC_TIMEOUT, Plan, log
from benchmarks.procs import Procs, serve_args, wait_serving
from xtenant_pdp import snapshot
from xtenant_pdp.api import pdp_pb2, pdp_pb2_grpc
from xtenant_pdp.bench.stats import percentile

# --------------------------------------------------------------------------- 100k partners: server, hot reload


class TimelineLoad:
    """Closed-loop Check calls from ``threads`` threads, recording when each finished and how."""

    def __init__(self, target: str, requests: Sequence[pdp_pb2.CheckRequest], threads: int = 8) -> None:
        self.target = target
        self.payloads = [r.SerializeToString() for r in requests]
        self.threads = threads
        self.stop = threading.Event()
        self.records: list[list[tuple[float, str, float]]] = [[] for _ in range(threads)]
        self._workers: list[threading.Thread] = []
        self.channel = grpc.insecure_channel(target)
        self._call = self.channel.unary_unary(
            "/xtenant.pdp.v1.DecisionService/Check", request_serializer=None, response_deserializer=None
        )

    def _work(self, slot: int) -> None:
        call = self._call
        payloads = self.payloads
        out = self.records[slot]
        i = slot
        clock = time.perf_counter
        while not self.stop.is_set():
            sent = clock()
            try:
                call(payloads[i % len(payloads)], timeout=RPC_TIMEOUT)
                code = "OK"
            except grpc.RpcError as exc:
                status = exc.code()
                code = status.name if status is not None else "UNKNOWN"
            end = clock()
            out.append((end, code, end - sent))
            i += self.threads

    def start(self) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=READY_TIMEOUT)
        for slot in range(self.threads):
            t = threading.Thread(target=self._work, args=(slot,), daemon=True, name=f"timeline-{slot}")
            t.start()
            self._workers.append(t)

    def finish(self) -> list[tuple[float, str, float]]:
        self.stop.set()
        for t in self._workers:
            t.join(RPC_TIMEOUT + 5)
        self.channel.close()
        return sorted(r for rs in self.records for r in rs)


def snapshot_info(target: str) -> str | None:
    with grpc.insecure_channel(target) as channel:
        try:
            answer = pdp_pb2_grpc.DecisionServiceStub(channel).GetSnapshotInfo(
                pdp_pb2.GetSnapshotInfoRequest(), timeout=RPC_TIMEOUT
            )
        except grpc.RpcError:
            return None
    return str(answer.snapshot_id)


def variant_of(data: bytes) -> bytes:
    """The same snapshot with one display name changed: a new snapshot id, same size and shape."""
    info, body = snapshot.load(data, name="variant")
    body.tenants[0].display_name += " (reloaded)"
    return snapshot.dump(body, source_digest=info.source_digest)


def bench_big_server(
    procs: Procs, workdir: Path, snapshot_path: Path, requests: list[pdp_pb2.CheckRequest], plan: Plan
) -> dict[str, Any]:
    live = workdir / "live.xtsnap"
    data = snapshot_path.read_bytes()
    live.write_bytes(data)
    target = f"unix:{workdir / 'big.sock'}"
    server = procs.spawn("pdp-100k", serve_args(live, target, extra=["--reload-interval", "0.5s"]))
    ready_s = wait_serving(server, target)
    time.sleep(0.5)
    out: dict[str, Any] = {
        "server_ready_s": ready_s,
        "server_rss_bytes": server.rss_bytes(),
        "server_peak_rss_bytes": server.peak_rss_bytes(),
    }
    log(f"  100k server SERVING {ready_s:.1f}s after spawn, RSS {out['server_rss_bytes'] / 2**20:.0f} MiB")
    variant = variant_of(data)
    staged = workdir / "staged.xtsnap"
    staged.write_bytes(variant)
    before = snapshot_info(target)
    gen = TimelineLoad(target, requests)
    gen.start()
    t_start = time.perf_counter()
    time.sleep(plan.reload_hold_s)
    t_swap = time.perf_counter()
    os.replace(staged, live)
    t_seen = None
    deadline = t_swap + 120
    while time.perf_counter() < deadline:
        current = snapshot_info(target)
        if current is not None and current != before:
            t_seen = time.perf_counter()
            break
        time.sleep(0.1)
    time.sleep(plan.reload_hold_s)
    t_end = time.perf_counter()
    records = gen.finish()
    out["server_rss_after_reload_bytes"] = server.rss_bytes()
    out["server_peak_rss_after_reload_bytes"] = server.peak_rss_bytes()
    procs.stop(server)
    out["reload_seen_s"] = None if t_seen is None else t_seen - t_swap
    out.update(timeline_figures(records, t_start, t_swap, t_seen or t_end, t_end))
    log(
        f"  hot reload under load: seen after {out['reload_seen_s']}s; baseline {out['baseline_rps']:.0f} calls/s, "
        f"lowest 250 ms window {out['min_window_rps']:.0f} calls/s (dip {out['dip'] * 100:.0f}%), "
        f"failed calls {out['failed']}"
    )
    return out


def timeline_figures(
    records: Sequence[tuple[float, str, float]],
    t_start: float,
    t_swap: float,
    t_seen: float,
    t_end: float,
    window: float = 0.25,
) -> dict[str, Any]:
    """Throughput per window before and during the reload, and every non-OK status."""
    buckets: dict[int, int] = {}
    failed: dict[str, int] = {}
    for t, code, _ in records:
        if code == "OK":
            k = int((t - t_start) / window)
            buckets[k] = buckets.get(k, 0) + 1
        else:
            failed[code] = failed.get(code, 0) + 1
    n = int((t_end - t_start) / window)
    series = [buckets.get(k, 0) / window for k in range(n)]
    swap_k = int((t_swap - t_start) / window)
    seen_k = int((t_seen - t_start) / window) + 1
    before = series[1:swap_k] or series[:1]
    during = series[swap_k : seen_k + 1] or [0.0]
    baseline = statistics.median(before) if before else 0.0
    lowest = min(during)
    latency_before = sorted(lat for t, _, lat in records if t < t_swap)
    latency_during = sorted(lat for t, _, lat in records if t_swap <= t <= t_seen + window)
    return {
        "latency_before_p99_ms": percentile(latency_before, 99) * 1e3 if latency_before else None,
        "latency_during_p99_ms": percentile(latency_during, 99) * 1e3 if latency_during else None,
        "latency_during_max_ms": latency_during[-1] * 1e3 if latency_during else None,
        "window_s": window,
        "baseline_rps": baseline,
        "min_window_rps": lowest,
        "mean_rps_during_reload": statistics.fmean(during),
        "dip": 1 - lowest / baseline if baseline else 1.0,
        "calls": len(records),
        "failed": sum(failed.values()),
        "failed_by_status": failed,
        "series_rps": [round(x) for x in series],
        "swap_window": swap_k,
        "seen_window": seen_k,
    }


