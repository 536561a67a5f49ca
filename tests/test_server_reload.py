"""Hot reload of a real `xtenant-pdp serve` process: ConfigMap symlink swaps under load, rejected
snapshots (corrupt, truncated, empty) that leave the last good one serving, SIGHUP, `--policy`
directories, and the decision cache across swaps.

Snapshot A is the example policy; snapshot B is the same policy with contoso's fabrikam partner
blocking the group of questions.jsonl line 1, so that question is ALLOW under A and DENY under B.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from server_kit import (
    RPC_TIMEOUT,
    SERVING,
    Channels,
    ConfigMapDir,
    Procs,
    ServerProcess,
    Snapshots,
    break_policy,
    check,
    compile_pair,
    copy_example_policy,
    decision_stub,
    flip_policy,
    flip_question,
    free_port,
    health_status,
    sample_value,
    samples,
    scrape,
    snapshot_id,
    wait_health,
    wait_snapshot,
    wait_until,
    write_atomically,
)

from xtenant_pdp.api import pdp_pb2

ALLOW = (pdp_pb2.DECISION_ALLOW, pdp_pb2.REASON_ACCESS_ALLOWED)
DENY = (pdp_pb2.DECISION_DENY, pdp_pb2.REASON_USER_BLOCKED)


@pytest.fixture
def pair(tmp_path: Path) -> Snapshots:
    return compile_pair(tmp_path)


def _expected(pair: Snapshots) -> dict[str, tuple[int, int]]:
    return {pair.a.info.snapshot_id: ALLOW, pair.b.info.snapshot_id: DENY}


def _outcome(answer: pdp_pb2.CheckResponse) -> tuple[int, int]:
    return (answer.decision, answer.reason)


def _load_failures(port: int) -> float:
    return sample_value(scrape(port), "xtenant_pdp_snapshot_load_failures_total") or 0.0


@dataclass
class Stream:
    """A client thread asking the flip question over and over (bounded in calls and time)."""

    channel: grpc.Channel
    max_calls: int = 20_000
    max_seconds: float = 30.0
    answers: list[tuple[str, tuple[int, int]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Stream:
        self.thread = threading.Thread(target=self._run, name="check-stream", daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        request = flip_question()
        stub = decision_stub(self.channel)
        deadline = time.monotonic() + self.max_seconds
        for _ in range(self.max_calls):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            try:
                answer = stub.Check(request, timeout=RPC_TIMEOUT)
            except grpc.RpcError as exc:
                self.failures.append(f"{exc.code()}: {exc.details()}")
                continue
            self.answers.append((answer.snapshot_id, _outcome(answer)))

    def count(self, snapshot: str) -> int:
        return sum(1 for sid, _ in list(self.answers) if sid == snapshot)

    def finish(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(RPC_TIMEOUT * 2)
        assert not self.thread.is_alive(), "the client thread did not finish"


@pytest.fixture
def streams() -> Iterator[list[Stream]]:
    running: list[Stream] = []
    try:
        yield running
    finally:
        for stream in running:
            stream.stop.set()
            if stream.thread is not None:
                stream.thread.join(RPC_TIMEOUT * 2)


def _start_configmap_server(
    procs: Procs, channels: Channels, folder: ConfigMapDir, *extra: str
) -> tuple[ServerProcess, grpc.Channel, int]:
    metrics_port = free_port()
    proc = procs.spawn(
        *("--snapshot", str(folder.path), "--listen", "127.0.0.1:0", "--reload-interval", "0.2s"),
        *("--metrics-listen", f"127.0.0.1:{metrics_port}", *extra),
    )
    channel = channels.open(proc.tcp_target)
    wait_health(channel, SERVING)
    return proc, channel, metrics_port


def test_configmap_swap_under_load_is_seamless_and_consistent(
    tmp_path: Path, pair: Snapshots, procs: Procs, channels: Channels, streams: list[Stream]
) -> None:
    folder = ConfigMapDir(tmp_path / "config", pair.a.data)
    proc, channel, _ = _start_configmap_server(procs, channels, folder)
    a, b = pair.a.info.snapshot_id, pair.b.info.snapshot_id
    wait_snapshot(channel, a)

    stream = Stream(channels.open(proc.tcp_target)).start()
    streams.append(stream)
    wait_until(lambda: stream.count(a) >= 50 or stream.failures, what="answers under A")
    folder.publish(pair.b.data)
    wait_until(lambda: stream.count(b) >= 50 or stream.failures, what="answers under B")
    stream.finish()

    assert stream.failures == []
    expected = _expected(pair)
    assert {sid for sid, _ in stream.answers} == {a, b}
    for sid, outcome in stream.answers:
        assert outcome == expected[sid], (sid, outcome)
    # One reference swap: once B answered, A never answers again.
    first_b = next(i for i, (sid, _) in enumerate(stream.answers) if sid == b)
    assert all(sid == b for sid, _ in stream.answers[first_b:])
    assert health_status(channel) == SERVING


def test_rejected_snapshots_leave_the_last_good_one_serving(
    tmp_path: Path, pair: Snapshots, procs: Procs, channels: Channels
) -> None:
    folder = ConfigMapDir(tmp_path / "config", pair.a.data)
    _, channel, metrics_port = _start_configmap_server(procs, channels, folder)
    a, b = pair.a.info.snapshot_id, pair.b.info.snapshot_id
    folder.publish(pair.b.data)
    wait_snapshot(channel, b)
    families = scrape(metrics_port)
    assert [s.labels["snapshot_id"] for s in samples(families) if s.name == "xtenant_pdp_snapshot_info"] == [b]
    assert sample_value(families, "xtenant_pdp_snapshot_info", snapshot_id=b) == 1

    good = pair.a.data  # were a damaged copy of A taken, the flip question would answer ALLOW again
    damaged = {
        "corrupt": good[:100] + bytes(x ^ 0x5A for x in good[100:200]) + good[200:],
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "bad-magic": b"NOTASNAP" + good[8:],
        "missing": None,  # the new ..data has no snapshot file: a dangling symlink
    }
    for damage, data in damaged.items():
        before = _load_failures(metrics_port)
        if data is None:
            folder.publish_without_file()
        else:
            folder.publish(data)
        wait_until(lambda n=before: _load_failures(metrics_port) >= n + 1, what=f"the {damage} load failure counted")
        assert _load_failures(metrics_port) == before + 1, damage
        assert snapshot_id(channel) == b, damage
        answer = check(channel, flip_question())
        assert (answer.snapshot_id, _outcome(answer)) == (b, DENY), damage
        assert health_status(channel) == SERVING, damage
        assert sample_value(scrape(metrics_port), "xtenant_pdp_snapshot_info", snapshot_id=b) == 1, damage

    # The next good snapshot is taken again.
    folder.publish(pair.a.data)
    wait_snapshot(channel, a)
    answer = check(channel, flip_question())
    assert (answer.snapshot_id, _outcome(answer)) == (a, ALLOW)
    families = scrape(metrics_port)
    assert [s.labels["snapshot_id"] for s in samples(families) if s.name == "xtenant_pdp_snapshot_info"] == [a]


def test_sighup_reloads_even_when_the_file_looks_unchanged(
    tmp_path: Path, pair: Snapshots, procs: Procs, channels: Channels
) -> None:
    path = tmp_path / "policy.xtsnap"
    path.write_bytes(pair.a.data)
    # Polling effectively off: only SIGHUP can make the server look again.
    proc = procs.spawn(
        *("--snapshot", str(path), "--listen", "127.0.0.1:0", "--reload-interval", "1h", "--metrics-listen", "off")
    )
    channel = channels.open(proc.tcp_target)
    wait_health(channel, SERVING)
    wait_snapshot(channel, pair.a.info.snapshot_id)

    # Rewrite B into the same inode with the same size and mtime: the poll fingerprint is unchanged.
    before = os.stat(path)
    assert len(pair.a.data) == len(pair.b.data)
    with open(path, "r+b") as f:
        f.write(pair.b.data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert snapshot_id(channel) == pair.a.info.snapshot_id

    proc.send(signal.SIGHUP)
    wait_snapshot(channel, pair.b.info.snapshot_id)
    answer = check(channel, flip_question())
    assert (answer.snapshot_id, _outcome(answer)) == (pair.b.info.snapshot_id, DENY)
    assert proc.proc is not None and proc.proc.poll() is None, "SIGHUP must not stop the server"


def test_policy_dir_recompiles_on_change_and_keeps_the_last_good_snapshot(
    tmp_path: Path, pair: Snapshots, procs: Procs, channels: Channels
) -> None:
    policy = copy_example_policy(tmp_path / "policy")
    partners = policy / "contoso" / "partners.json"
    original = partners.read_text(encoding="utf-8")
    metrics_port = free_port()
    proc = procs.spawn(
        *("--policy", str(policy), "--listen", "127.0.0.1:0", "--reload-interval", "0.2s"),
        *("--metrics-listen", f"127.0.0.1:{metrics_port}"),
    )
    channel = channels.open(proc.tcp_target)
    wait_health(channel, SERVING)
    a, b = pair.a.info.snapshot_id, pair.b.info.snapshot_id
    wait_snapshot(channel, a)  # the id is the body's hash: the same policy compiles to the same id

    flip_policy(policy)
    wait_snapshot(channel, b)
    answer = check(channel, flip_question())
    assert (answer.snapshot_id, _outcome(answer)) == (b, DENY)

    # Two ways to fail to compile: not JSON, then JSON with an unknown accessType (E005).
    for how in ("value", "json"):
        before = _load_failures(metrics_port)
        break_policy(policy, how)
        wait_until(lambda n=before: _load_failures(metrics_port) >= n + 1, what=f"the {how} failure counted")
        assert snapshot_id(channel) == b, how
        answer = check(channel, flip_question())
        assert (answer.snapshot_id, _outcome(answer)) == (b, DENY), how
        assert health_status(channel) == SERVING, how
        rejected = [r for r in proc.records() if r.get("msg", "").startswith("snapshot rejected")]
        assert rejected and rejected[-1]["active_snapshot"] == b, how
    assert any("accessType" in issue for r in rejected for issue in r.get("issues", [])), rejected

    # Fixing the directory brings the original policy back.
    write_atomically(partners, original)
    wait_snapshot(channel, a)
    answer = check(channel, flip_question())
    assert (answer.snapshot_id, _outcome(answer)) == (a, ALLOW)


def test_cache_never_serves_an_answer_of_the_previous_snapshot(
    tmp_path: Path, pair: Snapshots, procs: Procs, channels: Channels
) -> None:
    folder = ConfigMapDir(tmp_path / "config", pair.a.data)
    _, channel, metrics_port = _start_configmap_server(procs, channels, folder, "--cache-size", "1000")
    a, b = pair.a.info.snapshot_id, pair.b.info.snapshot_id
    expected = _expected(pair)
    request = flip_question()
    batch = pdp_pb2.BatchCheckRequest(requests=[request] * 3)

    for _ in range(5):
        answer = check(channel, request)
        assert (answer.snapshot_id, _outcome(answer)) == (a, ALLOW)
    hits = sample_value(scrape(metrics_port), "xtenant_pdp_cache_requests_total", result="hit")
    assert hits is not None and hits >= 4, "the decision cache must be on for this test to mean anything"

    for version, sid in ((pair.b.data, b), (pair.a.data, a), (pair.b.data, b)):
        folder.publish(version)

        def settled(sid: str = sid) -> bool:
            answer = check(channel, request)
            assert _outcome(answer) == expected[answer.snapshot_id], answer
            return answer.snapshot_id == sid

        wait_until(settled, what=f"answers from {sid}")
        for _ in range(5):
            answer = check(channel, request)
            assert (answer.snapshot_id, _outcome(answer)) == (sid, expected[sid])
            answers = decision_stub(channel).BatchCheck(batch, timeout=RPC_TIMEOUT).responses
            assert [(r.snapshot_id, _outcome(r)) for r in answers] == [(sid, expected[sid])] * 3
