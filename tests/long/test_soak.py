"""The soak (issue 9): a real server under mixed traffic for XTENANT_PDP_SOAK_S seconds (default
180) with a new snapshot every second, abusive clients beside well-behaved ones. It asserts zero
failed or wrong well-behaved calls and RSS, file descriptors and threads flat, and prints the
figures (README, "Reliability")::

    XTENANT_PDP_LONG=1 .venv/bin/python -m pytest -q -s tests/long/test_soak.py
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest
from fault_kit import with_created_at
from load_kit import ALLOW, DENY, Abusive, ProcSample, Traffic, Verdicts, WellBehaved, sample
from server_kit import (
    SERVING,
    Channels,
    ConfigMapDir,
    Procs,
    compile_pair,
    free_port,
    sample_value,
    scrape,
    wait_health,
)

from xtenant_pdp.service.pool import IDLE_S

pytestmark = pytest.mark.skipif(os.environ.get("XTENANT_PDP_LONG") != "1", reason="long run: set XTENANT_PDP_LONG=1")

DURATION_S = float(os.environ.get("XTENANT_PDP_SOAK_S", "180"))
WARMUP_FRACTION = 0.2


def _flat(samples: list[ProcSample], attribute: str) -> tuple[float, float]:
    """Mean of the first and of the last fifth after the warm-up."""
    kept = samples[int(len(samples) * WARMUP_FRACTION) :]
    fifth = max(1, len(kept) // 5)
    first = statistics.fmean(getattr(s, attribute) for s in kept[:fifth])
    last = statistics.fmean(getattr(s, attribute) for s in kept[-fifth:])
    return first, last


def test_soak_mixed_traffic_a_reload_every_second_abusive_clients(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    pair = compile_pair(tmp_path)
    folder = ConfigMapDir(tmp_path / "config", with_created_at(pair.a.data, int(time.time())))
    metrics_port = free_port()
    proc = procs.spawn(
        *("--snapshot", str(folder.path), "--listen", "127.0.0.1:0", "--reload-interval", "0.2s"),
        *("--max-snapshot-age", "120s", "--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    wait_health(channels.open(proc.tcp_target), SERVING)
    verdicts = Verdicts({pair.a.info.snapshot_id: ALLOW, pair.b.info.snapshot_id: DENY})
    traffic = Traffic(
        [WellBehaved(channels.open(proc.tcp_target), verdicts, DURATION_S + 30, pause_s=0.002) for _ in range(3)],
        [Abusive(proc.tcp_target, k, DURATION_S + 30) for k in ("max-batch", "garbage", "abandon", "deadline")],
    )
    halt = threading.Event()
    published = [0]

    def publisher() -> None:
        while not halt.wait(1.0):
            published[0] += 1
            data = (pair.b if published[0] % 2 else pair.a).data
            folder.publish(with_created_at(data, int(time.time())))
            if published[0] % 10 == 0:
                proc.send(signal.SIGHUP)  # and a forced reload now and then

    samples: list[ProcSample] = [sample(proc.pid)]
    reloading = threading.Thread(target=publisher, name="publisher", daemon=True)
    started = time.monotonic()
    traffic.start()
    reloading.start()
    try:
        while time.monotonic() - started < DURATION_S:
            time.sleep(2.0)
            samples.append(sample(proc.pid))
    finally:
        halt.set()
        reloading.join(10)
        traffic.stop()
    elapsed = time.monotonic() - started
    time.sleep(IDLE_S + 3)  # the pool's idle threads end: the count goes back to the quiet one
    quiet_after = sample(proc.pid)
    activations = sum(1 for r in proc.records() if r.get("msg") == "snapshot activated")
    failures_metric = sample_value(scrape(metrics_port), "xtenant_pdp_snapshot_load_failures_total")
    rss, fds, threads = (_flat(samples, a) for a in ("rss_mib", "fds", "threads"))
    report = {
        "duration_s": round(elapsed, 1),
        "snapshots_published": published[0],
        "snapshots_activated": activations,
        "load_failures": failures_metric,
        "well_behaved_calls": traffic.calls,
        "well_behaved_failed": len(traffic.failures),
        "well_behaved_wrong": len(traffic.wrong),
        "p50_ms": round(traffic.percentile(0.50) * 1000, 2),
        "p99_ms": round(traffic.percentile(0.99) * 1000, 2),
        "max_ms": round(traffic.percentile(1.0) * 1000, 2),
        "abusive_calls": {t.kind: dict(t.codes) for t in traffic.bad},
        "rss_mib_start_end": [round(samples[0].rss_mib, 1), round(rss[0], 1), round(rss[1], 1)],
        "rss_mib_max": round(max(s.rss_mib for s in samples), 1),
        "fds_after_warmup_first_last": [round(fds[0], 1), round(fds[1], 1)],
        "threads_after_warmup_first_last": [round(threads[0], 1), round(threads[1], 1)],
        "threads_quiet_before_after": [samples[0].threads, quiet_after.threads],
    }
    print("\nSOAK " + json.dumps(report))
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.wrong == [], traffic.wrong[:5]
    assert activations >= published[0] * 0.8
    assert rss[1] - rss[0] <= max(8.0, rss[0] * 0.10), report
    assert fds[1] - fds[0] <= 4, report
    assert threads[1] - threads[0] <= 2, report
    assert quiet_after.threads <= samples[0].threads + 2, report
    assert proc.proc is not None and proc.proc.poll() is None
