"""Issue 9's fault suite, short enough for CI: every snapshot fault under load with the answers
and the staleness deadline checked, then SIGHUP, SIGTERM and SIGKILL storms.

One server reads its snapshot from a ConfigMap-style folder and polls every 0.1 s. Each good
snapshot is published with a created time T0, so it must fail closed from T0 +
--max-snapshot-age on, whoever is reloading what: a well-behaved client that gets ALLOW after
that deadline (or an answer its snapshot would not give) fails the suite.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from fault_kit import broken_snapshots, with_created_at
from load_kit import ALLOW, DENY, Abusive, Traffic, Verdicts, WellBehaved, load_failures
from server_kit import (
    NOT_SERVING,
    SERVING,
    Channels,
    ConfigMapDir,
    Procs,
    compile_pair,
    free_port,
    health_status,
    sample_value,
    scrape,
    snapshot_id,
    wait_health,
    wait_snapshot,
    wait_until,
)

from xtenant_pdp.loader import load_snapshot_bytes

MAX_AGE_S = 6


def _publish_fifo(folder: ConfigMapDir) -> None:
    """A new version whose snapshot is a FIFO: a plain read of it would never return."""
    folder.version += 1
    version = folder.root / f"..v{folder.version}"
    version.mkdir()
    os.mkfifo(version / folder.NAME)
    folder._swap()


def _publish_directory(folder: ConfigMapDir) -> None:
    folder.version += 1
    version = folder.root / f"..v{folder.version}"
    (version / folder.NAME).mkdir(parents=True)
    folder._swap()


def test_issue9_fault_suite_every_snapshot_fault_under_load_with_staleness_checked(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    pair = compile_pair(tmp_path)
    t0 = [int(time.time()) + 1]  # a second ahead: counted from activation, so a slow start is safe
    a = with_created_at(pair.a.data, t0[0])
    folder = ConfigMapDir(tmp_path / "config", a)
    metrics_port = free_port()
    proc = procs.spawn(
        *("--snapshot", str(folder.path), "--listen", "127.0.0.1:0", "--reload-interval", "0.1s"),
        *("--max-snapshot-age", f"{MAX_AGE_S}s", "--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    channel = channels.open(proc.tcp_target)
    a_id = wait_until(lambda: snapshot_id(channel), what="the first snapshot")
    b_id = load_snapshot_bytes(pair.b.data).snapshot_id
    activated = [time.time()]

    def stale_after() -> float:
        return min(t0[0], activated[0]) + MAX_AGE_S

    verdicts = Verdicts({a_id: ALLOW, b_id: DENY}, stale_after)
    traffic = Traffic(
        [WellBehaved(channels.open(proc.tcp_target), verdicts, max_seconds=60) for _ in range(3)],
        [Abusive(proc.tcp_target, kind, max_seconds=60) for kind in ("garbage", "abandon", "deadline")],
    ).start()
    try:
        faults = {**broken_snapshots(pair.b.data)}
        damaged = pair.b.data
        faults |= {
            "corrupt": damaged[:100] + bytes(x ^ 0x5A for x in damaged[100:200]) + damaged[200:],
            "truncated": damaged[: len(damaged) // 2],
            "empty": b"",
        }
        count = 0
        for fault, data in faults.items():
            folder.publish(data)
            count += 1
            wait_until(lambda n=count: load_failures(metrics_port) >= n, what=f"the {fault} failure counted")
            assert snapshot_id(channel) == a_id, fault
        for fault, publish in (
            ("fifo", _publish_fifo),
            ("directory", _publish_directory),
            ("missing", ConfigMapDir.publish_without_file),
        ):
            publish(folder)
            count += 1
            wait_until(lambda n=count: load_failures(metrics_port) >= n, what=f"the {fault} failure counted")
            assert snapshot_id(channel) == a_id, fault
        # Good snapshots still get through after all of that (fresh ones: the faults may have
        # taken longer than the maximum age on a busy machine).
        for good, good_id in ((pair.b.data, b_id), (pair.a.data, a_id)):
            activated[0] = time.time()  # no later than the activation: never a later deadline
            t0[0] = int(activated[0]) + 1
            folder.publish(with_created_at(good, t0[0]))
            wait_snapshot(channel, good_id)
        assert health_status(channel) == SERVING
        # Nothing fresh arrives any more, only faults: past T0 + max age, A (which answers ALLOW)
        # must fail closed, reloader busy or not; any other answer then is wrong.
        while time.time() < stale_after() + 1.5:
            folder.publish(broken_snapshots(pair.a.data)["cloud-0"])
            time.sleep(0.3)
        wait_health(channel, NOT_SERVING, timeout=5)
        assert sample_value(scrape(metrics_port), "xtenant_pdp_snapshot_stale") == 1
        # A fresh one brings it back.
        activated[0] = time.time()  # no later than the activation: a deadline no later than the server's
        t0[0] = int(activated[0]) + 1
        folder.publish(with_created_at(pair.a.data, t0[0]))
        wait_health(channel, SERVING)
    finally:
        traffic.stop()
    assert traffic.failures == []
    assert traffic.wrong == []
    assert traffic.calls > 50
    assert all(line.startswith("{") for line in proc.lines), "a traceback or plain line on stderr"


def test_issue9_fault_suite_signal_storms(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, procs: Procs, channels: Channels
) -> None:
    pair = compile_pair(tmp_path)
    path = tmp_path / "policy.xtsnap"
    path.write_bytes(pair.a.data)
    sock = tmp_path_factory.mktemp("s") / "pdp.sock"  # short: tmp_path can exceed a socket path's limit
    args = ("--snapshot", str(path), "--listen", f"unix:{sock}", "--listen", "127.0.0.1:0", "--metrics-listen", "off")
    # SIGKILL storm: killed at random moments of start-up; the next start must still come up on
    # the same socket (the dead one's socket file is stale, not in use).
    for delay in (0.05, 0.2, 0.4, 0.8):
        victim = procs.spawn(*args, listening=False)
        time.sleep(delay)
        victim.send(signal.SIGKILL)
        victim.wait_exit(10)
    proc = procs.spawn(*args)
    channel = channels.open(proc.tcp_target)
    wait_health(channel, SERVING)
    verdicts = Verdicts({pair.a.info.snapshot_id: ALLOW, pair.b.info.snapshot_id: DENY})
    traffic = Traffic([WellBehaved(channels.open(f"unix:{sock}"), verdicts, max_seconds=30) for _ in range(2)])
    traffic.start()
    try:
        # SIGHUP storm under load: 200 reload requests in about 2 s, half of them with a new file.
        for i in range(200):
            if i % 20 == 10:
                path.write_bytes((pair.b if i % 40 == 10 else pair.a).data)
            proc.send(signal.SIGHUP)
            time.sleep(0.01)
        assert proc.proc is not None and proc.proc.poll() is None
        assert health_status(channel) == SERVING
    finally:
        traffic.stop()
    assert traffic.failures == [] and traffic.wrong == []
    # SIGTERM storm: the first one starts the drain; the rest must neither hurry nor break it.
    for _ in range(20):
        proc.send(signal.SIGTERM)
        time.sleep(0.005)
    assert proc.wait_exit(15) == 0
    assert not sock.exists()
    assert all(line.startswith("{") for line in proc.lines), proc.stderr
