"""Issue 9, the reload side, against a real `python -m xtenant_pdp serve` process: staleness
that needs no reload tick, snapshots that cannot be indexed (D1), start-up errors in one line,
SIGHUP during start-up (D11), a FIFO where the snapshot should be (D2) and a ConfigMap volume
with ``items`` in --policy mode (D9)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fault_kit import broken_snapshots, configmap_with_items, with_created_at
from load_kit import ALLOW, STALE, load_failures, outcome
from server_kit import (
    NOT_SERVING,
    SERVING,
    Channels,
    ConfigMapDir,
    Procs,
    check,
    compile_pair,
    copy_example_policy,
    flip_policy,
    flip_question,
    free_port,
    health_status,
    sample_value,
    scrape,
    snapshot_id,
    wait_health,
    wait_snapshot,
    wait_until,
)

from xtenant_pdp.synthetic import write_policy_dir


def test_issue9_D1_a_snapshot_goes_stale_with_no_reload_tick(tmp_path: Path, procs: Procs, channels: Channels) -> None:
    """Polling effectively off (1 h): only the request path and the staleness watch can notice."""
    pair = compile_pair(tmp_path)
    path = tmp_path / "policy.xtsnap"
    # Created a second ahead: clamped, its age counts from activation (a slow start cannot eat it).
    path.write_bytes(with_created_at(pair.a.data, int(time.time()) + 1))
    metrics_port = free_port()
    proc = procs.spawn(
        *("--snapshot", str(path), "--listen", "127.0.0.1:0", "--reload-interval", "1h"),
        *("--max-snapshot-age", "5s", "--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    channel = channels.open(proc.tcp_target)
    wait_health(channel, SERVING)
    assert outcome(check(channel, flip_question())) == ALLOW
    wait_until(lambda: outcome(check(channel, flip_question())) == STALE, what="the answer to fail closed")
    wait_health(channel, NOT_SERVING, timeout=5)
    assert sample_value(scrape(metrics_port), "xtenant_pdp_snapshot_stale") == 1


def test_issue9_D1_broken_snapshots_are_rejected_and_the_reloader_lives_on(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    pair = compile_pair(tmp_path)
    folder = ConfigMapDir(tmp_path / "config", pair.a.data)
    metrics_port = free_port()
    proc = procs.spawn(
        *("--snapshot", str(folder.path), "--listen", "127.0.0.1:0", "--reload-interval", "0.1s"),
        *("--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    channel = channels.open(proc.tcp_target)
    a, b = pair.a.info.snapshot_id, pair.b.info.snapshot_id
    wait_snapshot(channel, a)
    for n, (fault, data) in enumerate(broken_snapshots(pair.b.data).items(), start=1):
        folder.publish(data)
        wait_until(lambda n=n: load_failures(metrics_port) >= n, what=f"the {fault} failure counted")
        assert load_failures(metrics_port) == n, fault
        assert snapshot_id(channel) == a, fault
        assert health_status(channel) == SERVING, fault
        rejected = [r for r in proc.records() if r.get("msg", "").startswith("snapshot rejected")]
        assert len(rejected) == n and rejected[-1]["active_snapshot"] == a, fault
    # The reloader still polls: a good file is taken ...
    folder.publish(pair.b.data)
    wait_snapshot(channel, b)
    # ... and still answers SIGHUP.
    folder.publish(pair.a.data)
    proc.send(signal.SIGHUP)
    wait_snapshot(channel, a)
    assert not any("Traceback" in line for line in proc.lines)


def test_issue9_D1_start_up_with_a_broken_snapshot_logs_one_clean_error_line(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    pair = compile_pair(tmp_path)
    path = tmp_path / "policy.xtsnap"
    path.write_bytes(broken_snapshots(pair.a.data)["cloud-0"])
    proc = procs.spawn("--snapshot", str(path), "--listen", "127.0.0.1:0", "--metrics-listen", "off")
    wait_until(lambda: any(r.get("level") == "error" for r in proc.records()), what="the load error")
    channel = channels.open(proc.tcp_target)
    assert health_status(channel) == NOT_SERVING
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(15) == 0
    errors = [r for r in proc.records() if r["level"] == "error"]
    assert len(errors) == 1, errors
    assert "is not a valid Cloud" in errors[0]["error"] and str(path) in errors[0]["error"]
    assert all(line.startswith("{") for line in proc.lines), proc.stderr  # no traceback lines


def _sighup_handled(pid: int) -> bool:
    """SIGHUP ignored or caught by the process (bit 0 of SigIgn/SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    masks = [int(line.split()[1], 16) for line in status.splitlines() if line.startswith(("SigIgn:", "SigCgt:"))]
    return any(mask & 1 for mask in masks)


def test_issue9_D11_sighup_during_start_up_never_kills_the_process(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    """A policy directory large enough that the first load takes a while; SIGHUPs from the moment
    the server's own code runs (SIGHUP handled) or it listens, whichever is first, until it serves.
    The interpreter's own start, before any of our code runs, only a launcher can protect."""
    policy = write_policy_dir(tmp_path / "policy", partners=3000, tenants=2)
    proc = procs.spawn(
        *("--policy", str(policy.root), "--listen", "127.0.0.1:0", "--metrics-listen", "off"), listening=False
    )
    assert proc.proc is not None
    wait_until(lambda: _sighup_handled(proc.pid) or proc.addresses, interval=0.002, what="the server's code to run")
    deadline = time.monotonic() + 60
    served = False
    while not served and time.monotonic() < deadline:
        assert proc.proc.poll() is None, f"SIGHUP killed the server:\n{proc.stderr}"
        proc.send(signal.SIGHUP)
        time.sleep(0.02)
        if proc.addresses:
            served = health_status(channels.open(proc.tcp_target)) == SERVING
    assert served
    assert proc.proc.poll() is None
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(15) == 0


def test_issue9_D2_a_fifo_in_place_of_the_snapshot_is_refused_and_sigterm_still_exits(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    """The FIFO stands in for a hung network mount: opened plainly, a read would block forever."""
    pair = compile_pair(tmp_path)
    good = tmp_path / "good.xtsnap"
    good.write_bytes(pair.a.data)
    fifo = tmp_path / "hung"
    os.mkfifo(fifo)
    link = tmp_path / "policy.xtsnap"
    link.symlink_to(good)
    metrics_port = free_port()
    proc = procs.spawn(
        *("--snapshot", str(link), "--listen", "127.0.0.1:0", "--reload-interval", "0.1s"),
        *("--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    channel = channels.open(proc.tcp_target)
    wait_snapshot(channel, pair.a.info.snapshot_id)
    tmp_link = tmp_path / "policy.xtsnap.tmp"
    tmp_link.symlink_to(fifo)
    os.replace(tmp_link, link)
    wait_until(lambda: load_failures(metrics_port) >= 1, what="the FIFO refused")
    assert any("not a regular file" in str(r.get("error")) for r in proc.records())
    assert outcome(check(channel, flip_question())) == ALLOW
    assert health_status(channel) == SERVING
    proc.send(signal.SIGTERM)
    assert proc.wait_exit(15) == 0


def test_issue9_D9_policy_from_a_configmap_volume_with_items_reloads_on_the_swap(
    tmp_path: Path, procs: Procs, channels: Channels
) -> None:
    pair = compile_pair(tmp_path)
    policy = copy_example_policy(tmp_path / "policy")
    volume = tmp_path / "volume"
    configmap_with_items(volume, policy, 1)
    proc = procs.spawn(
        *("--policy", str(volume), "--listen", "127.0.0.1:0", "--reload-interval", "0.1s", "--metrics-listen", "off")
    )
    channel = channels.open(proc.tcp_target)
    wait_snapshot(channel, pair.a.info.snapshot_id)
    flip_policy(policy)
    configmap_with_items(volume, policy, 2)  # the kubelet's update: only ..data changes
    wait_snapshot(channel, pair.b.info.snapshot_id)
